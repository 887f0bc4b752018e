"""Demo mall data for the local cloud (`make dev` seeds it; `make dev-empty` does not).

`infra.seed.demo` creates it through the system's own doors; `python -m infra.seed.sign` signs an
integration request with the demo key.
"""
