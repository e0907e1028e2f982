"""Webhook authentication: HMAC-SHA256 over the timestamp and the body, per partner.

The partner sends two headers::

    X-Ketenhub-Timestamp: 1795430400            (Unix seconds)
    X-Ketenhub-Signature: sha256=<hex of HMAC-SHA256(secret, "<timestamp>." + body)>

A signature over the timestamp stops a captured request from being replayed outside
the window; comparing in constant time stops timing attacks.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from hub.errors import AuthenticationError

TIMESTAMP_HEADER = "X-Ketenhub-Timestamp"
SIGNATURE_HEADER = "X-Ketenhub-Signature"
_PREFIX = "sha256="


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return _PREFIX + digest


def signed_headers(secret: bytes, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Both headers, as a partner (or a test) sends them."""
    moment = int(time.time()) if timestamp is None else timestamp
    return {TIMESTAMP_HEADER: str(moment), SIGNATURE_HEADER: sign(secret, moment, body)}


def verify(
    secret: bytes,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    *,
    window_s: int,
    now: float | None = None,
) -> None:
    """Return when the signature holds; raise AuthenticationError saying which part fails."""
    if not timestamp or not signature:
        raise AuthenticationError(
            f"the {TIMESTAMP_HEADER} and {SIGNATURE_HEADER} headers are required"
        )
    try:
        moment = int(timestamp)
    except ValueError:
        raise AuthenticationError(f"{TIMESTAMP_HEADER} must be Unix seconds") from None
    skew = abs((time.time() if now is None else now) - moment)
    if skew > window_s:
        raise AuthenticationError(f"the timestamp is outside the {window_s} s replay window")
    if not hmac.compare_digest(sign(secret, moment, body), signature.strip()):
        raise AuthenticationError("the signature does not match the body")
