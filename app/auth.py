"""API keys, roles, and the dependencies that check them.

Keys are random, shown once, and stored as SHA-256 digests: they carry 256
bits of entropy, so a slow password hash would add latency to every request
without adding safety.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Field, Session, SQLModel, select

from app.db import SessionDep
from app.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationProblem
from app.types import utcnow

KEY_PREFIX = "pp_"


class Role(StrEnum):
    admin = "admin"
    planner = "planner"
    merchant = "merchant"
    viewer = "viewer"


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    role: str = Field(max_length=20)
    merchant_id: int | None = Field(default=None, index=True)
    key_hash: str = Field(max_length=64, unique=True)
    display_prefix: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, name, role and (for merchants) merchant."""

    key_id: int
    name: str
    role: Role
    merchant_id: int | None = None

    @property
    def actor(self) -> str:
        return f"key:{self.key_id}:{self.name}"

    def can_write(self) -> bool:
        return self.role in (Role.admin, Role.planner)


SYSTEM = Principal(key_id=0, name="system", role=Role.admin)


def hash_key(raw: str) -> str:
    """The stored digest of a random bearer secret (API keys, feed tokens)."""
    return hashlib.sha256(raw.encode()).hexdigest()


def create_key(
    session: Session, *, name: str, role: Role | str, merchant_id: int | None = None
) -> tuple[ApiKey, str]:
    """A new key and its raw text, which is never stored and never shown again."""
    try:
        role = Role(role)
    except ValueError as exc:
        raise ValidationProblem(
            f"role must be one of {', '.join(r.value for r in Role)}", loc=["body", "role"]
        ) from exc
    if not name.strip():
        raise ValidationProblem("name must not be empty", loc=["body", "name"])
    if role is Role.merchant and merchant_id is None:
        raise ValidationProblem("a merchant key needs a merchant id", loc=["body", "merchant_id"])
    if role is not Role.merchant and merchant_id is not None:
        raise ValidationProblem(
            "only merchant keys are bound to a merchant", loc=["body", "merchant_id"]
        )
    if merchant_id is not None and not _merchant_exists(session, merchant_id):
        # A key for a merchant yet to be made would act for whoever gets that id.
        raise ValidationProblem(f"no merchant {merchant_id}", loc=["body", "merchant_id"])
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        name=name.strip(),
        role=role.value,
        merchant_id=merchant_id,
        key_hash=hash_key(raw),
        display_prefix=raw[:10],
    )
    session.add(key)
    session.flush()
    return key, raw


def _merchant_exists(session: Session, merchant_id: int) -> bool:
    from app.slots import service as slots_service  # slots imports auth: import late

    return bool(slots_service.merchant_tiers(session, merchant_ids=[merchant_id]))


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.exec(select(ApiKey).order_by(ApiKey.id)))  # type: ignore[arg-type]


def revoke_key(session: Session, *, key_id: int) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"no API key {key_id}")
    if key.revoked_at is None:
        if key.role == Role.admin and _active_admins(session) <= 1:
            raise Conflict(
                "this is the last active admin key; create another admin key first, "
                "or nobody could manage keys any more"
            )
        key.revoked_at = utcnow()
        session.add(key)
        session.flush()
    return key


def _active_admins(session: Session) -> int:
    statement = select(ApiKey).where(ApiKey.role == Role.admin, ApiKey.revoked_at.is_(None))  # type: ignore[union-attr]
    return len(list(session.exec(statement)))


def principal_for(session: Session, raw: str) -> Principal | None:
    key = session.exec(select(ApiKey).where(ApiKey.key_hash == hash_key(raw))).first()
    if key is None or key.revoked_at is not None:
        return None
    assert key.id is not None
    return Principal(key_id=key.id, name=key.name, role=Role(key.role), merchant_id=key.merchant_id)


def authenticate(request: Request, session: SessionDep) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise Unauthorized("send an API key as `Authorization: Bearer <key>`")
    principal = principal_for(session, raw.strip())
    if principal is None:
        raise Unauthorized("the API key is unknown or revoked")
    request.state.principal = principal
    return principal


def require_roles(*roles: Role):
    allowed = frozenset(roles)

    def check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if principal.role not in allowed:
            raise Forbidden(
                f"the {principal.role.value} role may not do this; "
                f"it needs one of: {', '.join(sorted(r.value for r in allowed))}"
            )
        return principal

    return check


# Annotated aliases for routes.
AnyRole = Annotated[Principal, Depends(authenticate)]
Writer = Annotated[Principal, Depends(require_roles(Role.admin, Role.planner))]
Admin = Annotated[Principal, Depends(require_roles(Role.admin))]
# Everyone on the operations team: job runs and internals are not for merchants.
Staff = Annotated[Principal, Depends(require_roles(Role.admin, Role.planner, Role.viewer))]
WriterOrMerchant = Annotated[
    Principal, Depends(require_roles(Role.admin, Role.planner, Role.merchant))
]
