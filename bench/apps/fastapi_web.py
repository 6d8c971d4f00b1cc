"""The peer: the gateway a user would write instead of ours, with FastAPI and Celery's own client.

    uvicorn bench.apps.fastapi_web:app --workers 2 --port 8891

Plain `def` endpoints, so FastAPI runs each in its thread pool, where Celery's blocking
``apply_async(...).get()`` is fine. uvicorn's defaults otherwise (access log included).
"""

from typing import Any

from celery.exceptions import TimeoutError as ResultTimeout
from celery.result import AsyncResult
from fastapi import FastAPI, HTTPException

from add_task import add as add_task
from check_worker import check as check_task

WAIT = 10.0  # seconds, as web.py's WEB_WAIT

app = FastAPI()


def wait(result: AsyncResult) -> Any:
    """The task's result, or a 202 with its id when it takes longer than WAIT."""
    try:
        return result.get(timeout=WAIT)
    except ResultTimeout:
        raise HTTPException(202, {'task_id': result.id, 'status': 'PENDING'}) from None


@app.get('/check')
def check(url: str, follow_redirects: bool = False, timeout: float = 5.0) -> dict:
    return wait(check_task.apply_async((url, follow_redirects, timeout)))


@app.get('/add')
def add(x: int, y: int) -> dict:
    return {'results': wait(add_task.apply_async((x, y)))}
