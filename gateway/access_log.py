"""The gateway's log: its format (LOG_FORMAT), and one line per answered request.

Successful answers are logged only when asked (WEB_ACCESS_LOG=1: the line costs ~3% CPU per
request); refusals and errors always, once, with their reason: at INFO for a 4xx, WARNING for a
5xx. The line names the path, never the query string, which may hold a target URL with credentials.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import tornado.web
from pythonjsonlogger.json import JsonFormatter

log = logging.getLogger('web.access')
TEXT_FORMAT = '%(asctime)s %(levelname)s %(name)s: %(message)s'


def configure(log_format: str) -> None:
    """``json``: one JSON object per line, the access fields as keys; anything else: text."""
    handler = logging.StreamHandler()
    if log_format == 'json':
        handler.setFormatter(JsonFormatter('%(asctime)s %(levelname)s %(name)s %(message)s'))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


def request_logger(every_request: bool) -> Callable[[tornado.web.RequestHandler], None]:
    """Tornado's ``log_function``: logs an answer when it is a refusal or an error, or when
    ``every_request``."""

    def log_request(handler: tornado.web.RequestHandler) -> None:
        request, status = handler.request, handler.get_status()
        seconds = request.request_time()
        if status < 400 and not every_request:
            return
        endpoint = getattr(handler, 'endpoint', 'unmatched')
        fields = {'request_id': getattr(handler, 'request_id', None), 'endpoint': endpoint,
                  'method': request.method, 'path': request.path[:200], 'status': status,
                  'latency_ms': round(seconds * 1000, 1), 'task_id': getattr(handler, 'task_id', None),
                  'reason': getattr(handler, 'refusal', None)}
        text = ' '.join(f'{key}={value}' for key, value in fields.items() if value is not None
                        and key != 'reason')
        if fields['reason']:
            text += f' reason={fields["reason"]!r}'
        log.log(logging.INFO if status < 500 else logging.WARNING, text, extra=fields)

    return log_request
