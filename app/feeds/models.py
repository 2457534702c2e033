"""Tables of the feeds domain."""
