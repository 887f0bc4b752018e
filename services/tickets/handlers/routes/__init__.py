"""Routers of TicketsApiFunction, one per area."""
