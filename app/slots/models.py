"""Tables of the slots domain."""
