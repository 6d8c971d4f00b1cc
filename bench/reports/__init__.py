"""What a `python -m bench` run writes from its rows: the rows themselves (rows), issue 10's
targets (targets), results.md and results.json (results), the PNG plots (plots), and the
generated block of docs/performance.md (performance, also `python -m bench.reports.performance`
to rewrite it from results/results.json). Nothing here starts a process or loads a stack.
"""
