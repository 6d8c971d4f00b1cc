"""The seed's example task."""

import celeryconfig as routes
from main import app


@app.task(expires=routes.ADD_EXPIRES)
def add(x: int, y: int) -> int:
    return x + y
