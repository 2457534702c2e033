"""Malformed bodies thrown at every write endpoint: never a 500.

Walks the routes of the app, so every domain's endpoints are covered as they
are added.
"""

from __future__ import annotations

import json
import re

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)

raw_bodies = st.one_of(
    st.binary(max_size=64),
    st.text(max_size=64).map(str.encode),
    json_values.map(lambda v: json.dumps(v).encode()),
)


def write_routes(app: FastAPI) -> list[tuple[str, str]]:
    routes = []
    for context in iter_route_contexts(app.routes):
        if not isinstance(context.original_route, APIRoute):
            continue
        for method in context.methods or ():
            if method in {"POST", "PUT", "PATCH"}:
                routes.append((method, re.sub(r"\{[^}]+\}", "1", context.path)))
    return sorted(routes)


class TestMalformedBodies:
    def test_no_write_endpoint_answers_500(self, client: TestClient, app: FastAPI, admin):
        routes = write_routes(app)
        assert routes, "no write routes found"

        @settings(
            max_examples=120,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
            derandomize=True,
        )
        @given(route=st.sampled_from(routes), body=raw_bodies)
        def check(route: tuple[str, str], body: bytes) -> None:
            method, path = route
            response = client.request(
                method,
                path,
                content=body,
                headers={**admin, "Content-Type": "application/json"},
            )
            assert response.status_code < 500, (method, path, body, response.text)
            if response.status_code >= 400:
                assert response.headers["content-type"].startswith("application/problem+json")

        check()

    def test_wrong_types_in_known_fields_are_422_not_500(self, client: TestClient, admin):
        for body in ({"name": 5, "role": []}, {"name": "x" * 1000, "role": "admin"}, []):
            response = client.post("/api/v1/keys", json=body, headers=admin)
            assert response.status_code == 422, response.text
