"""Campaigns: projections for journeys, the churn-warning journey, later segments and messages."""
