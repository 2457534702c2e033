"""Errors, keys and roles, pagination, ETags, idempotency, audit, health."""

from __future__ import annotations

import re

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app import audit
from app.audit import AuditRecord
from app.auth import AnyRole
from app.db import SessionDep
from app.idempotency import IdempotencyDep
from app.schemas import RequestModel
from app.versioning import IfMatch, check_version, set_etag
from tests.problems import assert_problem


class TestAuthentication:
    def test_every_api_route_refuses_a_request_without_a_key(
        self, client: TestClient, app: FastAPI
    ):
        checked = 0
        for route in iter_route_contexts(app.routes):
            if not isinstance(route.original_route, APIRoute):
                continue
            if not route.path.startswith("/api/v1"):
                continue
            if route.path.startswith("/api/v1/hooks/"):
                continue  # authenticated by signature, tested with the webhooks
            path = re.sub(r"\{[^}]+\}", "1", route.path)
            for method in route.methods:
                response = client.request(method, path, json={})
                assert_problem(response, 401)
                assert response.headers["www-authenticate"] == "Bearer"
                checked += 1
        assert checked >= 4

    def test_an_unknown_key_is_401(self, client: TestClient):
        response = client.get("/api/v1/me", headers={"Authorization": "Bearer pp_nope"})
        assert assert_problem(response, 401)["detail"] == "the API key is unknown or revoked"

    def test_a_key_identifies_its_role(self, client: TestClient, headers_for):
        response = client.get("/api/v1/me", headers=headers_for("viewer"))
        assert response.status_code == 200
        assert response.json()["role"] == "viewer"

    def test_a_revoked_key_stops_working(self, client: TestClient, admin):
        created = client.post("/api/v1/keys", json={"name": "ci", "role": "planner"}, headers=admin)
        assert created.status_code == 201
        key = created.json()
        planner = {"Authorization": f"Bearer {key['key']}"}
        assert client.get("/api/v1/me", headers=planner).status_code == 200
        assert client.delete(f"/api/v1/keys/{key['id']}", headers=admin).status_code == 200
        assert_problem(client.get("/api/v1/me", headers=planner), 401)

    def test_a_role_that_may_not_gets_403(self, client: TestClient, planner):
        body = assert_problem(client.get("/api/v1/keys", headers=planner), 403)
        assert "admin" in body["detail"]

    def test_keys_are_stored_hashed(self, client: TestClient, admin, session: Session):
        from app.auth import ApiKey

        raw = client.post(
            "/api/v1/keys", json={"name": "x", "role": "viewer"}, headers=admin
        ).json()["key"]
        stored = [k.key_hash for k in session.exec(select(ApiKey))]
        assert raw not in stored and all(len(h) == 64 for h in stored)

    def test_a_merchant_key_needs_a_merchant(self, client: TestClient, admin):
        body = assert_problem(
            client.post("/api/v1/keys", json={"name": "m", "role": "merchant"}, headers=admin), 422
        )
        assert body["errors"][0]["loc"] == ["body", "merchant_id"]

    def test_a_merchant_key_for_a_merchant_that_does_not_exist_is_refused(self, client, admin):
        body = assert_problem(
            client.post(
                "/api/v1/keys",
                json={"name": "m", "role": "merchant", "merchant_id": 424242},
                headers=admin,
            ),
            422,
        )
        assert body["detail"] == "body.merchant_id: no merchant 424242"

    def test_the_last_admin_key_cannot_be_revoked(self, client: TestClient, admin):
        me = client.get("/api/v1/me", headers=admin).json()
        assert_problem(client.delete(f"/api/v1/keys/{me['key_id']}", headers=admin), 409)
        other = client.post("/api/v1/keys", json={"name": "b", "role": "admin"}, headers=admin)
        assert client.delete(f"/api/v1/keys/{me['key_id']}", headers=admin).status_code == 200
        assert other.status_code == 201


class TestProblems:
    def test_unknown_route_is_a_404_problem(self, client: TestClient):
        assert_problem(client.get("/nowhere"), 404)

    def test_wrong_method_is_a_405_problem(self, client: TestClient):
        assert_problem(client.delete("/healthz"), 405)

    def test_a_body_that_is_not_json_is_a_400_problem(self, client: TestClient, admin):
        response = client.post(
            "/api/v1/keys",
            content=b"{not json",
            headers={**admin, "Content-Type": "application/json"},
        )
        assert_problem(response, 400)

    def test_unknown_fields_are_refused_by_name(self, client: TestClient, admin):
        response = client.post(
            "/api/v1/keys", json={"name": "x", "role": "viewer", "colour": "red"}, headers=admin
        )
        body = assert_problem(response, 422)
        assert body["errors"][0]["loc"] == ["body", "colour"]
        assert body["errors"][0]["msg"] == "unknown field"

    def test_validation_names_each_bad_field(self, client: TestClient, admin):
        response = client.post("/api/v1/keys", json={"name": "", "role": "boss"}, headers=admin)
        body = assert_problem(response, 422)
        assert {tuple(e["loc"]) for e in body["errors"]} == {("body", "name"), ("body", "role")}

    def test_an_oversized_body_is_a_413_problem(self, client: TestClient, admin):
        response = client.post(
            "/api/v1/keys",
            content=b"x" * 2_000_000,
            headers={**admin, "Content-Type": "application/json"},
        )
        assert_problem(response, 413)

    def test_an_unexpected_error_is_a_500_problem_that_hides_internals(self, app: FastAPI):
        router = APIRouter()

        @router.get("/boom")
        def boom() -> None:
            raise RuntimeError("secret internals")

        app.include_router(router)
        with TestClient(app, raise_server_exceptions=False) as client:
            response = client.get("/boom")
        body = assert_problem(response, 500)
        assert "secret" not in response.text
        assert body["request_id"] == response.headers["x-request-id"]

    def test_every_response_carries_a_request_id(self, client: TestClient):
        response = client.get("/healthz", headers={"X-Request-ID": "abc123"})
        assert response.headers["x-request-id"] == "abc123"
        assert len(client.get("/healthz").headers["x-request-id"]) == 32


class TestPagination:
    def test_pages_walk_every_item_once(self, client: TestClient, admin):
        for i in range(7):
            client.post("/api/v1/keys", json={"name": f"k{i}", "role": "viewer"}, headers=admin)
        seen, cursor = [], None
        while True:
            params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
            page = client.get("/api/v1/keys", params=params, headers=admin).json()
            seen += [item["id"] for item in page["items"]]
            cursor = page["next"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) == 8  # seven plus the admin's own
        assert seen == sorted(seen)

    def test_a_forged_cursor_is_a_422(self, client: TestClient, admin):
        body = assert_problem(
            client.get("/api/v1/keys", params={"cursor": "!!"}, headers=admin), 422
        )
        assert body["errors"][0]["loc"] == ["query", "cursor"]

    def test_limit_is_bounded(self, client: TestClient, admin):
        assert_problem(client.get("/api/v1/keys", params={"limit": 501}, headers=admin), 422)


class _Thing(RequestModel):
    name: str


@pytest.fixture
def side_effect_app(app: FastAPI) -> FastAPI:
    """A side-effecting route built on the shared idempotency and audit pieces."""
    router = APIRouter()

    @router.post("/api/v1/_things", status_code=201)
    def make_thing(body: _Thing, principal: AnyRole, idem: IdempotencyDep, session: SessionDep):
        if (replay := idem.replay()) is not None:
            return replay
        entry = audit.record(
            session,
            actor=principal,
            action="create",
            resource_type="thing",
            resource_id=body.name,
            after={"name": body.name},
        )
        session.flush()
        return idem.respond(201, {"name": body.name, "audit_id": entry.id})

    app.include_router(router)
    return app


class TestIdempotency:
    def test_the_same_key_replays_the_first_answer(self, side_effect_app, admin, session):
        with TestClient(side_effect_app) as client:
            headers = {**admin, "Idempotency-Key": "k-1"}
            first = client.post("/api/v1/_things", json={"name": "a"}, headers=headers)
            second = client.post("/api/v1/_things", json={"name": "a"}, headers=headers)
        assert first.status_code == second.status_code == 201
        assert first.json() == second.json()
        assert second.headers["idempotent-replayed"] == "true"
        made = session.exec(select(AuditRecord).where(AuditRecord.resource_type == "thing"))
        assert len(list(made)) == 1

    def test_the_same_key_with_another_body_is_refused(self, side_effect_app, admin):
        with TestClient(side_effect_app) as client:
            headers = {**admin, "Idempotency-Key": "k-2"}
            client.post("/api/v1/_things", json={"name": "a"}, headers=headers)
            response = client.post("/api/v1/_things", json={"name": "b"}, headers=headers)
        assert_problem(response, 422)

    def test_without_a_key_each_request_acts(self, side_effect_app, admin, session):
        with TestClient(side_effect_app) as client:
            client.post("/api/v1/_things", json={"name": "c"}, headers=admin)
            client.post("/api/v1/_things", json={"name": "c"}, headers=admin)
        made = session.exec(select(AuditRecord).where(AuditRecord.resource_id == "c"))
        assert len(list(made)) == 2

    def test_keys_are_per_caller(self, side_effect_app, headers_for, session):
        with TestClient(side_effect_app) as client:
            for role in ("admin", "planner"):
                client.post(
                    "/api/v1/_things",
                    json={"name": "d"},
                    headers={**headers_for(role), "Idempotency-Key": "shared"},
                )
        made = session.exec(select(AuditRecord).where(AuditRecord.resource_id == "d"))
        assert len(list(made)) == 2


class TestVersions:
    def test_if_match_with_a_stale_version_is_412(self, app: FastAPI, admin):
        router = APIRouter()

        @router.put("/api/v1/_versioned")
        def put(if_match: IfMatch, response: __import__("fastapi").Response) -> dict:
            check_version(3, if_match)
            set_etag(response, 4)
            return {"version": 4}

        app.include_router(router)
        with TestClient(app) as client:
            stale = client.put("/api/v1/_versioned", headers={**admin, "If-Match": '"2"'})
            fresh = client.put("/api/v1/_versioned", headers={**admin, "If-Match": '"3"'})
            garbage = client.put("/api/v1/_versioned", headers={**admin, "If-Match": "nope"})
        assert assert_problem(stale, 412)["current_version"] == 3
        assert fresh.status_code == 200 and fresh.headers["etag"] == '"4"'
        assert_problem(garbage, 400)


class TestAudit:
    def test_key_changes_are_audited_with_before_and_after(self, client: TestClient, admin):
        key = client.post(
            "/api/v1/keys", json={"name": "a", "role": "viewer"}, headers=admin
        ).json()
        client.delete(f"/api/v1/keys/{key['id']}", headers=admin)
        log = client.get(
            "/api/v1/audit",
            params={"resource_type": "api_key", "resource_id": key["id"]},
            headers=admin,
        ).json()["items"]
        assert [entry["action"] for entry in log] == ["create", "revoke"]
        assert log[1]["after"]["revoked_at"] is not None
        assert log[0]["actor"].startswith("key:")
        assert "key_hash" not in log[0]["after"]


class TestOperations:
    def test_healthz(self, client: TestClient):
        assert client.get("/healthz").json() == {"status": "ok"}

    def test_metrics_count_requests_by_route(self, client: TestClient):
        client.get("/healthz")
        text = client.get("/metrics").text
        assert 'promoplan_http_requests_total{method="GET",route="/healthz",status="200"}' in text

    def test_openapi_describes_the_api(self, client: TestClient):
        spec = client.get("/openapi.json").json()
        assert "/api/v1/keys" in spec["paths"]

    def test_every_json_body_in_openapi_has_an_example(self, client: TestClient):
        spec = client.get("/openapi.json").json()
        missing = []
        for path, operations in spec["paths"].items():
            for method, operation in operations.items():
                bodies = [operation.get("requestBody", {}), *operation["responses"].values()]
                for body in bodies:
                    media = body.get("content", {}).get("application/json")
                    if media is not None and "example" not in media and "examples" not in media:
                        missing.append(f"{method.upper()} {path}")
        assert missing == []
        ids = [o["operationId"] for ops in spec["paths"].values() for o in ops.values()]
        assert len(ids) == len(set(ids))


class TestHostileInput:
    @pytest.mark.parametrize(
        "cursor",
        ["W3t9XQ", "Wzk5OTk5OTk5OTk5OTk5OTk5OTk5XQ", "WyJhIl0", "W1sxXV0", "W3RydWVd", "WzEuNV0"],
        ids=["object", "huge-int", "text", "list", "bool", "float"],
    )
    def test_a_forged_cursor_of_any_shape_is_a_422(self, client: TestClient, admin, cursor):
        body = assert_problem(
            client.get("/api/v1/keys", params={"cursor": cursor}, headers=admin), 422
        )
        assert body["errors"][0]["loc"] == ["query", "cursor"]

    def test_nul_characters_in_a_body_are_a_422_naming_the_field(self, client: TestClient, admin):
        response = client.post(
            "/api/v1/keys", json={"name": "a\u0000b", "role": "viewer"}, headers=admin
        )
        body = assert_problem(response, 422)
        assert body["errors"][0]["loc"] == ["body", "name"]
        assert "NUL" in body["errors"][0]["msg"]

    def test_nul_characters_in_a_query_are_a_400(self, client: TestClient, admin):
        assert_problem(client.get("/api/v1/audit?resource_type=%00", headers=admin), 400)

    def test_a_chunked_oversized_body_is_a_413(self, client: TestClient, admin):
        def chunks():
            for _ in range(40):
                yield b"x" * 65536

        response = client.post(
            "/api/v1/keys",
            content=chunks(),
            headers={**admin, "Content-Type": "application/json"},
        )
        assert_problem(response, 413)

    def test_messages_carry_no_library_prefix(self, client: TestClient, admin):
        response = client.post("/api/v1/keys", json={"name": "x", "role": "boss"}, headers=admin)
        assert not any(e["msg"].startswith("Value error") for e in response.json()["errors"])
