"""HTTP routes of the promotions domain."""

from fastapi import APIRouter

router = APIRouter(tags=["promotions"])
