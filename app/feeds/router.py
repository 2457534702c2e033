"""HTTP routes of the feeds domain."""

from fastapi import APIRouter

router = APIRouter(tags=["feeds"])

# Feeds served to calendar apps, authenticated by their token (no API key).
public_router = APIRouter(tags=["feeds"])
