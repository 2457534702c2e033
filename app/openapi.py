"""The OpenAPI document, with an example for every request and response.

Schemas that carry their own `examples` keep them; the rest get one built
from the schema, with values a planner would recognise, so that every
operation in `/docs` shows what to send and what comes back.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

_BY_NAME: dict[str, Any] = {
    "name": "Double 11 双十一 2027",
    "title": "Double 11 双十一 2027",
    "slug": "double-11-2027",
    "description": "The year's biggest sale",
    "timezone": "Asia/Shanghai",
    "currency": "CNY",
    "slot_type": "homepage_banner",
    "category": "beauty",
    "tier": "head",
    "team": "design",
    "sku": "SKU-1001",
    "key": "peak",
    "phase": "peak",
    "code": "D11K8QW2ZP",
    "prefix": "D11",
    "by": "P1D",
    "lag": "P1D",
    "window": "2027-11-11",
    "template": "double11",
    "anchor": "2027-11-11",
    "status": "scheduled",
    "launch_mode": "schedule",
    "kind": "milestone",
    "level": "store",
    "role": "planner",
    "reason": "outscored",
    "customer_id": "c-10086",
    "order_id": "o-20271111-0001",
    "url": "https://storefront.example.com/hooks/promoplan",
    "token": "Hh3p9ZkT0x8w-v2yq5Gm1uRbN7sLcE4dJaF6oWiYtQ",
    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "detail": "the 4 homepage_banner units on 2027-11-11 went to higher scores",
    "type": "event.launched",
}

_BY_FORMAT = {
    "date-time": "2027-11-11T00:00:00+08:00",
    "date": "2027-11-11",
    "duration": "P1D",
    "uri": "https://storefront.example.com/hooks/promoplan",
    "email": "ops@example.com",
    "uuid": "6f1c7a52-1b1e-4c35-9d7e-3f1f8a2b9c10",
}


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components.get(schema["$ref"].rsplit("/", 1)[-1], {})
    return schema


def example_for(
    schema: dict[str, Any], components: dict[str, Any], name: str = "", depth: int = 0
) -> Any:
    """A plausible value for `schema` (a JSON Schema from the document)."""
    schema = _resolve(schema, components)
    if "example" in schema:
        return schema["example"]
    if schema.get("examples"):
        return schema["examples"][0]
    if schema.get("default") is not None:
        return schema["default"]
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf", "allOf"):
        options = [s for s in schema.get(key, []) if _resolve(s, components).get("type") != "null"]
        if options:
            return example_for(options[0], components, name, depth)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        if depth > 5:
            return {}
        properties = schema.get("properties", {})
        if properties:
            return {
                prop: example_for(sub, components, prop, depth + 1)
                for prop, sub in properties.items()
            }
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            return {name or "key": example_for(extra, components, "", depth + 1)}
        return {}
    if kind == "array":
        if depth > 5:
            return []
        singular = name[:-1] if name.endswith("s") else name
        return [example_for(schema.get("items", {}), components, singular, depth + 1)]
    if kind == "string":
        if name in _BY_NAME:
            return _BY_NAME[name]
        if schema.get("format") in _BY_FORMAT:
            return _BY_FORMAT[schema["format"]]
        if name.endswith("_at"):
            return _BY_FORMAT["date-time"]
        if name.endswith("_date"):
            return _BY_FORMAT["date"]
        return name.replace("_", " ") or "text"
    if kind == "integer":
        if name.endswith("_bp"):
            return 2000
        if name.endswith(("_minor", "amount", "price", "subtotal", "total", "discount")):
            return 29900
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return 186888.0 if name == "score" else 1.5
    if kind == "boolean":
        return False
    return None


def _add_example(content: dict[str, Any], components: dict[str, Any]) -> None:
    media = content.get("application/json") or content.get("application/problem+json")
    if media is None or "example" in media or "examples" in media or "schema" not in media:
        return
    media["example"] = example_for(media["schema"], components)


def with_examples(spec: dict[str, Any]) -> dict[str, Any]:
    components = spec.get("components", {}).get("schemas", {})
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            body = operation.get("requestBody", {}).get("content")
            if body:
                _add_example(body, components)
            for response in operation.get("responses", {}).values():
                if "content" in response:
                    _add_example(response["content"], components)
    return spec


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = with_examples(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    summary=app.summary,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
