"""Tables of the promotions domain."""
