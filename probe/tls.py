"""TLS for checks: the client context an option set asks for, and what a handshake tells.

Verification is on unless ``insecure``. The certificate facts are read from the chain the server
sent, as blackbox_exporter does (its ``probe_ssl_earliest_cert_expiry``), verified or not.
"""

from __future__ import annotations

import _ssl
import functools
import hashlib
import ssl
import time
from typing import Any

from probe.options import CheckOptions

_VERSIONS = {'TLSv1': 'TLS 1.0', 'TLSv1.1': 'TLS 1.1', 'TLSv1.2': 'TLS 1.2', 'TLSv1.3': 'TLS 1.3'}


@functools.lru_cache(maxsize=64)
def _context(insecure: bool, ca_pem: str | None) -> ssl.SSLContext:
    """One context per kind, shared by every check: building one loads the system's CAs (~ms)."""
    context = ssl.create_default_context(cadata=ca_pem) if ca_pem else ssl.create_default_context()
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def client_context(options: CheckOptions) -> ssl.SSLContext:
    return _context(options.insecure, options.ca_pem)


def _name(rdns: tuple) -> str:
    """``CN=example.com,O=Example``: a certificate name, most specific part first."""
    return ','.join(f'{_SHORT.get(key, key)}={value}' for rdn in reversed(rdns) for key, value in rdn)


_SHORT = {'commonName': 'CN', 'organizationName': 'O', 'organizationalUnitName': 'OU', 'countryName': 'C',
          'localityName': 'L', 'stateOrProvinceName': 'ST'}


def _not_after(info: dict[str, Any]) -> int:
    return ssl.cert_time_to_seconds(info['notAfter'])


def facts(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> dict[str, Any]:
    """What the handshake tells, as JSON: ``version``, ``cipher``, and of the certificates
    ``cert_not_after`` / ``not_after`` (the earliest notAfter in the chain the server sent, as ISO
    time and Unix time), ``chain_not_after`` (the earliest in the verified chain, root included;
    None unverified), ``days_left``, and the server's own ``subject``, ``issuer``,
    ``subject_alternative`` (its DNS names) and ``fingerprint_sha256``."""
    sent = ssl_object._sslobj.get_unverified_chain() or []  # public from Python 3.13 on
    verified = ssl_object._sslobj.get_verified_chain() or [] if ssl_object.context.verify_mode else []
    found: dict[str, Any] = {'version': _VERSIONS.get(ssl_object.version() or '', ssl_object.version()),
                             'cipher': (ssl_object.cipher() or (None,))[0]}
    if sent:
        infos = [certificate.get_info() for certificate in sent]
        leaf = infos[0]
        not_after = min(_not_after(info) for info in infos)
        found.update(
            cert_not_after=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(not_after)), not_after=not_after,
            chain_not_after=min((_not_after(c.get_info()) for c in verified), default=None),
            days_left=round((not_after - time.time()) / 86400, 2),
            subject=_name(leaf.get('subject', ())), issuer=_name(leaf.get('issuer', ())),
            subject_alternative=','.join(name for kind, name in leaf.get('subjectAltName', ())
                                         if kind == 'DNS'),
            fingerprint_sha256=hashlib.sha256(sent[0].public_bytes(_ssl.ENCODING_DER)).hexdigest())
    return found
