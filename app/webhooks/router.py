"""HTTP routes of the webhooks domain."""

from fastapi import APIRouter

router = APIRouter(tags=["webhooks"])

# Inbound webhooks, authenticated by their Standard Webhooks signature.
hooks_router = APIRouter(tags=["webhooks"])
