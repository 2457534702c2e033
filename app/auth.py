"""API keys, roles, and the dependencies that check them.

Keys are random, shown once, and stored as SHA-256 digests: they carry 256
bits of entropy, so a slow password hash would add latency to every request
without adding safety.

A key found valid is trusted, in this process, for `auth_cache_seconds`
without asking the database again: the lookup (a pooled connection, a
transaction, a query) cost more than most requests' own work. Revoking a
key evicts it here at once (and again when the revocation commits); another
process stops accepting it within that bound. Unknown keys are never
remembered, so a new key works at once everywhere.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import event
from sqlmodel import Field, Session, SQLModel, select
from starlette.concurrency import run_in_threadpool

from app.config import get_settings
from app.db import get_session
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
        _distrust(session, key.key_hash)
    return key


def _active_admins(session: Session) -> int:
    statement = select(ApiKey).where(ApiKey.role == Role.admin, ApiKey.revoked_at.is_(None))  # type: ignore[union-attr]
    return len(list(session.exec(statement)))


@dataclass
class _Trust:
    principal: Principal
    until: float  # trusted without a query until then (monotonic)
    # While one request re-checks an expired key, the others may go on
    # trusting it, but never past this: a re-check that hangs or fails
    # must not stretch a revoked key's life.
    coast_until: float


# digest → its trust
_trusted: dict[str, _Trust] = {}
_MAX_TRUSTED = 10_000  # more distinct keys than this in one window: start over
# Bumped by every revocation: a lookup that began before one may have read
# the key as valid, and must not trust it afterwards.
_revocations = 0


def _trusted_principal(digest: str) -> Principal | None:
    """The key's principal while it is trusted, else None: look it up.

    When the trust runs out, the request that notices it looks the key up
    and requests arriving meanwhile go on trusting it, for one period at
    most: were they all to look it up at once, on SQLite they would queue
    for the write lock. A lookup that fails or finds the key invalid
    forgets it at once (`_look_up`)."""
    entry = _trusted.get(digest)
    if entry is None:
        return None
    now = time.monotonic()
    if now < entry.until:
        return entry.principal
    if now < entry.coast_until:
        entry.until = entry.coast_until  # the others coast; this one checks
    return None


def _trust(digest: str, principal: Principal, revocations: int) -> None:
    seconds = get_settings().auth_cache_seconds
    if seconds <= 0 or revocations != _revocations:
        return
    if len(_trusted) >= _MAX_TRUSTED:
        _trusted.clear()
    now = time.monotonic()
    _trusted[digest] = _Trust(principal, now + seconds, now + 2 * seconds)


def _forget(digest: str) -> None:
    global _revocations
    _revocations += 1
    _trusted.pop(digest, None)


def _distrust(session: Session, digest: str) -> None:
    """Forget a key now, and again once the session commits: a request that
    read the key before the revocation committed may have trusted it since."""
    _forget(digest)
    event.listen(session, "after_commit", lambda _s: _forget(digest), once=True)


def _principal_by_digest(session: Session, digest: str) -> Principal | None:
    key = session.exec(select(ApiKey).where(ApiKey.key_hash == digest)).first()
    if key is None or key.revoked_at is not None:
        return None
    assert key.id is not None
    return Principal(key_id=key.id, name=key.name, role=Role(key.role), merchant_id=key.merchant_id)


def _look_up(session: Session, digest: str) -> Principal | None:
    revocations = _revocations
    try:
        principal = _principal_by_digest(session, digest)
    except BaseException:
        _trusted.pop(digest, None)  # fail closed: no coasting on a broken check
        raise
    if principal is not None:
        _trust(digest, principal, revocations)
    else:
        _trusted.pop(digest, None)
    return principal


def principal_for(session: Session, raw: str) -> Principal | None:
    """Who the raw key belongs to, if it is valid (a trusted key without a query)."""
    digest = hash_key(raw)
    return _trusted_principal(digest) or _look_up(session, digest)


@contextmanager
def request_session(request: Request) -> Iterator[Session]:
    """The session `SessionDep` gives (its dependency overrides included),
    made only when a request needs it: a route on the event loop that often
    needs none saves the two thread-pool hops of a generator dependency."""
    provider = request.app.dependency_overrides.get(get_session, get_session)
    with contextmanager(provider)() as session:
        yield session


def _look_up_for(request: Request, digest: str) -> Principal | None:
    with request_session(request) as session:
        return _look_up(session, digest)


async def authenticate(request: Request) -> Principal:
    # On the event loop: a trusted key needs no thread, no session and no query.
    header = request.headers.get("authorization", "")
    scheme, _, raw = header.partition(" ")
    raw = raw.strip()
    if scheme.lower() != "bearer" or not raw:
        raise Unauthorized("send an API key as `Authorization: Bearer <key>`")
    digest = hash_key(raw)
    principal = _trusted_principal(digest) or await run_in_threadpool(_look_up_for, request, digest)
    if principal is None:
        raise Unauthorized("the API key is unknown or revoked")
    request.state.principal = principal
    return principal


def require_roles(*roles: Role):
    allowed = frozenset(roles)

    async def check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
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
