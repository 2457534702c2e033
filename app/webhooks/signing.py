"""Standard Webhooks signing and verification (pure: no web, no database).

The spec (standard-webhooks/standard-webhooks `spec/standard-webhooks.md`):
- the signed content is `"{webhook-id}.{webhook-timestamp}.{raw body}"`;
- the signature is base64(HMAC-SHA256(secret, content)), sent as `v1,<base64>`;
- `webhook-signature` may hold several space-separated signatures, so a
  sender can sign with an old and a new secret while a secret rotates;
- a secret is `whsec_` + base64 of 24-64 random bytes;
- receivers compare in constant time and refuse timestamps too far from now
  in either direction (5 minutes by default).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets as _secrets
from collections.abc import Sequence
from dataclasses import dataclass

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_SECONDS = 300
# The spec forbids `.` in the id and timestamp (they delimit the signed content).
_ID_PATTERN = re.compile(r"[A-Za-z0-9_\-:]{1,255}")
_TIMESTAMP_PATTERN = re.compile(r"\d{1,12}")


class SignatureError(Exception):
    """The message is not signed by any of the secrets, or its headers are
    malformed, or its timestamp is outside the tolerance. The text says which."""


@dataclass(frozen=True)
class VerifiedMessage:
    webhook_id: str
    timestamp: int


def new_secret(size: int = 32) -> str:
    """A fresh secret: `whsec_` + base64 of `size` random bytes (24-64)."""
    if not 24 <= size <= 64:
        raise ValueError("a secret has 24 to 64 random bytes")
    return SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(size)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key inside a `whsec_` secret."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a secret starts with whsec_")
    try:
        return base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("a secret is whsec_ followed by base64") from exc


def _signed_content(webhook_id: str, timestamp: int, body: bytes) -> bytes:
    return f"{webhook_id}.{timestamp}.".encode() + body


def sign(secret: str, *, webhook_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64>` signature of `body` (the raw bytes sent, never re-serialised)."""
    digest = hmac.new(
        secret_key(secret), _signed_content(webhook_id, timestamp, body), hashlib.sha256
    ).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def signature_header(
    secrets: Sequence[str], *, webhook_id: str, timestamp: int, body: bytes
) -> str:
    """The `webhook-signature` value: one signature per secret (rotation)."""
    if not secrets:
        raise ValueError("sign with at least one secret")
    return " ".join(
        sign(secret, webhook_id=webhook_id, timestamp=timestamp, body=body) for secret in secrets
    )


def signed_headers(
    secrets: Sequence[str], *, webhook_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The three Standard Webhooks headers for one message."""
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(
            secrets, webhook_id=webhook_id, timestamp=timestamp, body=body
        ),
    }


def parse_signatures(header: str) -> list[bytes]:
    """The `v1` signatures in a `webhook-signature` header, as raw digests.

    Other versions (`v1a` is ed25519) are ignored, as the spec asks; an entry
    that is not `version,base64` makes the whole header malformed.
    """
    found: list[bytes] = []
    entries = header.split()
    if not entries:
        raise SignatureError("the webhook-signature header is empty")
    for entry in entries:
        version, comma, value = entry.partition(",")
        if not comma or not version or not value:
            raise SignatureError("webhook-signature entries look like v1,<base64>")
        if version != SIGNATURE_VERSION:
            continue
        try:
            found.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError) as exc:
            raise SignatureError("a v1 signature is not valid base64") from exc
    if not found:
        raise SignatureError("the webhook-signature header has no v1 signature")
    return found


def verify(
    secrets: Sequence[str],
    *,
    webhook_id: str | None,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: float,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> VerifiedMessage:
    """Check a received message against every secret that is currently valid.

    `now` is a unix time. Raises SignatureError, never anything else, so a
    caller can turn every failure into one 401.
    """
    if not webhook_id or not timestamp or not signature:
        missing = [
            name
            for name, value in (
                ("webhook-id", webhook_id),
                ("webhook-timestamp", timestamp),
                ("webhook-signature", signature),
            )
            if not value
        ]
        raise SignatureError(f"missing header(s): {', '.join(missing)}")
    if not _ID_PATTERN.fullmatch(webhook_id):
        raise SignatureError("webhook-id must be 1-255 characters of A-Z a-z 0-9 _ - :")
    if not _TIMESTAMP_PATTERN.fullmatch(timestamp):
        raise SignatureError("webhook-timestamp must be integer unix seconds")
    sent_at = int(timestamp)
    if sent_at < now - tolerance_seconds:
        raise SignatureError("webhook-timestamp is too old")
    if sent_at > now + tolerance_seconds:
        raise SignatureError("webhook-timestamp is too far in the future")
    given = parse_signatures(signature)
    content = _signed_content(webhook_id, sent_at, body)
    for secret in secrets:
        try:
            key = secret_key(secret)
        except ValueError:
            continue
        expected = hmac.new(key, content, hashlib.sha256).digest()
        # Compare against every given signature without stopping early on a
        # mismatch: timing then says nothing about which bytes matched.
        matched = False
        for candidate in given:
            matched |= hmac.compare_digest(expected, candidate)
        if matched:
            return VerifiedMessage(webhook_id=webhook_id, timestamp=sent_at)
    raise SignatureError("no signature matches")
