"""The opt-in LocalStack tier: deployment helpers for `make deploy-localstack` (see README.md)."""
