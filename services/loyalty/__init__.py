"""Loyalty: purchases as ingested facts (idempotent), later points, tiers, rewards and coupons."""
