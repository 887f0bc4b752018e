"""Tickets: service requests. Built by the tickets issue; no functions yet."""
