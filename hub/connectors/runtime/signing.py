"""Webhook authentication: HMAC-SHA256 over the timestamp and the body, per partner.

The partner sends these headers::

    X-Ketenhub-Timestamp: 1795430400            (Unix seconds)
    X-Ketenhub-Nonce:     9f2c61d0a4b7e3c851f0  (optional, fresh for every request)
    X-Ketenhub-Signature: sha256=<hex of HMAC-SHA256(secret, "<timestamp>.<nonce>." + body)>

Without a nonce the signed string is ``"<timestamp>." + body``. A signature over the
timestamp stops a captured request from being replayed outside the window; the runtime
accepts each signature only once, which stops a replay inside it; the nonce lets a
partner send the same body twice in one second. Comparing in constant time stops
timing attacks.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time

from hub.core.errors import AuthenticationError

TIMESTAMP_HEADER = "X-Ketenhub-Timestamp"
SIGNATURE_HEADER = "X-Ketenhub-Signature"
NONCE_HEADER = "X-Ketenhub-Nonce"
_PREFIX = "sha256="
_NONCE = re.compile(r"[A-Za-z0-9_-]{8,64}")


def sign(secret: bytes, timestamp: int, body: bytes, nonce: str | None = None) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (with ``nonce``)."""
    signed = f"{timestamp}.{nonce}." if nonce else f"{timestamp}."
    digest = hmac.new(secret, signed.encode() + body, hashlib.sha256).hexdigest()
    return _PREFIX + digest


def signed_headers(
    secret: bytes, body: bytes, timestamp: int | None = None, nonce: str | None = None
) -> dict[str, str]:
    """The headers as a partner (or a test) sends them, with a fresh nonce unless one
    is given."""
    moment = int(time.time()) if timestamp is None else timestamp
    fresh = nonce or secrets.token_hex(12)
    return {
        TIMESTAMP_HEADER: str(moment),
        NONCE_HEADER: fresh,
        SIGNATURE_HEADER: sign(secret, moment, body, fresh),
    }


def verify(
    secret: bytes,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    *,
    window_s: int,
    now: float | None = None,
    nonce: str | None = None,
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
    if nonce is not None and not _NONCE.fullmatch(nonce):
        raise AuthenticationError(f"{NONCE_HEADER} must be 8 to 64 letters, digits, - or _")
    if not hmac.compare_digest(sign(secret, moment, body, nonce), signature.strip()):
        raise AuthenticationError("the signature does not match the body")
