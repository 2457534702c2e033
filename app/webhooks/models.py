"""Tables of the webhooks domain."""
