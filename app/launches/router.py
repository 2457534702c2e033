"""HTTP routes of the launches domain."""

from fastapi import APIRouter

router = APIRouter(tags=["launches"])
