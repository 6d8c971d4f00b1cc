"""Stack a, the seed's baseline: Flask under uWSGI, calling the upstream synchronously.

Each request holds one of uWSGI's threads (processes x threads) for the whole upstream call,
which is what caps this design at threads / upstream latency.
"""

from __future__ import annotations

import time

import requests
from flask import Flask, jsonify, request

app = Flask(__name__)


@app.get('/check')
def check():  # type: ignore[no-untyped-def] - a Flask view
    started = time.perf_counter()
    try:
        # requests.get as the seed would write it: a new connection per call, like our worker.
        response = requests.get(request.args['url'], timeout=5)
        ok, status, error = response.ok, response.status_code, None
    except requests.RequestException as exc:
        ok, status, error = False, None, type(exc).__name__
    latency_ms = round((time.perf_counter() - started) * 1000, 2)
    answer = jsonify(ok=ok, status=status, latency_ms=latency_ms, error=error)
    # uWSGI closes the connection after each answer (keep-alive would pin a thread to a client
    # between its requests); saying so lets wrk reconnect instead of counting a read error.
    answer.headers['Connection'] = 'close'
    return answer
