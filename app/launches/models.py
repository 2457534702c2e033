"""Tables of the launches domain."""
