"""Problem types of the webhooks domain."""

from __future__ import annotations

from app.errors import Conflict, NotFound, Unauthorized


class EndpointNotFound(NotFound):
    slug, title = "webhook-endpoint-not-found", "Webhook endpoint not found"


class SubscriptionNotFound(NotFound):
    slug, title = "webhook-subscription-not-found", "Webhook subscription not found"


class DeliveryNotFound(NotFound):
    slug, title = "webhook-delivery-not-found", "Webhook delivery not found"


class InvalidSignature(Unauthorized):
    """401: the inbound message is not signed by the endpoint's secret, its
    signature header is malformed, or its timestamp is outside the tolerance."""

    slug, title = "invalid-webhook-signature", "Webhook signature refused"

    def __init__(self, detail: str):
        super().__init__(detail)
        # Not a Bearer challenge: the endpoint authenticates by signature.
        self.headers = {}


class EndpointNotForEvent(Conflict):
    slug, title = "webhook-endpoint-wrong-event", "This endpoint may not act on that event"


class DeliveryInProgress(Conflict):
    slug, title = "webhook-delivery-in-progress", "The delivery is being attempted right now"
