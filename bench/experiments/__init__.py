"""One-off measurements, each with its own `python -m bench.experiments.<name>` entry, built on
the runner's stacks and load: pools (check worker variants side by side), profile (a gateway
process's CPU by library, with py-spy) and metrics_cost (CPU per /add of this tree's gateway
against a baseline tree's, side by side; `make bench` runs it after the main run).
"""
