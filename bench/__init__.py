"""`python -m bench`: the seed article's load test, redone with wrk against every stack.

See bench/README.md for what is measured and how to read the results.
"""
