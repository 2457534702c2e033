"""HTTP routes of the calendar domain."""

from fastapi import APIRouter

router = APIRouter(tags=["calendar"])
