"""The seed's example task."""

from main import app


@app.task
def add(x: int, y: int) -> int:
    return x + y
