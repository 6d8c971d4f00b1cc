"""The seed's example task."""

import routing
from main import app


@app.task(expires=routing.ADD_EXPIRES)
def add(x: int, y: int) -> int:
    return x + y
