"""MallCRM benchmarks: ``make bench`` (``python -m bench``). Not part of ``make test``.

Each module measures one thing and returns :class:`bench.common.Table` objects; ``__main__`` runs
them in order and prints one table per benchmark. ``docs/performance.md`` explains the method
behind every figure and records the latest numbers.
"""
