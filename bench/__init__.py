"""`python -m bench`: the seed article's load test, redone with wrk against every stack.

The runner lives here: __main__ (the runs and their order), stacks (bringing each stack up and
down), load (wrk or the plain client, with the CPU every component used), sysstat (/proc) and
overload (`--overload`). What it starts is in apps/, what it writes in reports/; experiments/
holds the one-off measurements. See bench/README.md for what is measured and how to read it.
"""
