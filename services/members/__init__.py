"""Members: identity, profile, behaviour statistics and profile scores."""
