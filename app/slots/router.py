"""HTTP routes of the slots domain."""

from fastapi import APIRouter

router = APIRouter(tags=["slots"])
