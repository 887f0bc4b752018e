"""Routers of MembersApiFunction, one module per area (included by handlers/api.py)."""
