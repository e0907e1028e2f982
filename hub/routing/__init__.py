"""Routing: the router's case state now; the sharing policy and the router come next."""
