"""Who am I, API keys and the audit log, over HTTP."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from pydantic import Field

from app import audit
from app import auth as keys
from app.auth import Admin, AnyRole, ApiKey, Role
from app.db import SessionDep
from app.pagination import Page, PageDep, paginate
from app.schemas import RequestModel, ResponseModel

router = APIRouter(tags=["admin"])


class MeRead(ResponseModel):
    key_id: int
    name: str
    role: Role
    merchant_id: int | None


class ApiKeyCreate(RequestModel):
    name: str = Field(min_length=1, max_length=200)
    role: Role
    merchant_id: int | None = None


class ApiKeyRead(ResponseModel):
    id: int
    name: str
    role: Role
    merchant_id: int | None
    display_prefix: str
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The key itself; shown this once and never again")


class AuditRead(ResponseModel):
    id: int
    at: datetime
    actor: str
    action: str
    resource_type: str
    resource_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None


@router.get("/me", response_model=MeRead, summary="The calling key's identity and role")
def me(principal: AnyRole) -> MeRead:
    return MeRead(
        key_id=principal.key_id,
        name=principal.name,
        role=principal.role,
        merchant_id=principal.merchant_id,
    )


@router.post("/keys", status_code=201, response_model=ApiKeyCreated, summary="Create an API key")
def create_key(body: ApiKeyCreate, session: SessionDep, principal: Admin) -> ApiKeyCreated:
    key, raw = keys.create_key(
        session, name=body.name, role=body.role, merchant_id=body.merchant_id
    )
    audit.record(
        session,
        actor=principal,
        action="create",
        resource_type="api_key",
        resource_id=key.id,
        after=ApiKeyRead.model_validate(key),
    )
    return ApiKeyCreated(**ApiKeyRead.model_validate(key).model_dump(), key=raw)


@router.get("/keys", response_model=Page[ApiKeyRead], summary="List API keys")
def list_keys(session: SessionDep, _: Admin, page: PageDep) -> Page[ApiKeyRead]:
    from sqlmodel import select

    return paginate(
        session,
        select(ApiKey),
        page,
        order_by=[ApiKey.id],
        key=lambda k: [k.id],
        to_item=ApiKeyRead.model_validate,
    )


@router.delete("/keys/{key_id}", response_model=ApiKeyRead, summary="Revoke an API key")
def revoke_key(key_id: int, session: SessionDep, principal: Admin) -> ApiKeyRead:
    key = keys.revoke_key(session, key_id=key_id)
    read = ApiKeyRead.model_validate(key)
    audit.record(
        session,
        actor=principal,
        action="revoke",
        resource_type="api_key",
        resource_id=key_id,
        after=read,
    )
    return read


@router.get("/audit", response_model=Page[AuditRead], summary="The audit log, oldest first")
def audit_log(
    session: SessionDep,
    _: Admin,
    page: PageDep,
    resource_type: str | None = Query(default=None, max_length=60),
    resource_id: str | None = Query(default=None, max_length=60),
) -> Page[AuditRead]:
    statement = audit.list_for(session, resource_type=resource_type, resource_id=resource_id)
    return paginate(
        session,
        statement,
        page,
        order_by=[audit.AuditRecord.id],
        key=lambda r: [r.id],
        to_item=AuditRead.model_validate,
    )
