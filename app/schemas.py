"""Base classes for request and response bodies."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

# Values that cannot hold text.
_NO_TEXT = (int, float, bool, type(None))


def _has_nul(value: Any) -> bool:
    if type(value) is str:
        return "\x00" in value
    if isinstance(value, (*_NO_TEXT, RequestModel)):
        return False  # a nested request model has checked its own fields
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple | set):
        return any(_has_nul(item) for item in value)
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return False


class RequestModel(BaseModel):
    """A request body: unknown fields are refused, not ignored, and text
    with NUL characters is refused (PostgreSQL cannot store it)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _refuse_nul(cls, value: Any) -> Any:
        if _has_nul(value):
            raise ValueError("must not contain NUL (\\u0000) characters")
        return value


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ProblemRead(BaseModel):
    """An RFC 9457 problem, as every error is answered."""

    type: str
    title: str
    status: int
    detail: str
    request_id: str | None = None
    errors: list[dict[str, Any]] | None = None


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting problem+json answers."""
    return {
        status: {"model": ProblemRead, "content": {"application/problem+json": {}}}
        for status in statuses
    }
