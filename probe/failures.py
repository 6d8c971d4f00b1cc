"""Why a check failed, in a few words a client can read (no object reprs, no tracebacks)."""

from __future__ import annotations

import ssl


def describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return 'connection refused'
    if isinstance(exc, TimeoutError):
        return 'timed out'
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f'certificate verify failed: {exc.verify_message}'
    if isinstance(exc, ssl.SSLError):
        return f'TLS failed: {exc.reason or exc}'
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__
