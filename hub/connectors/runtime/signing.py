"""Webhook authentication on the Standard Webhooks specification
(https://www.standardwebhooks.com), so a partner signs with an existing library in its
own language. The partner sends these headers::

    webhook-id:        msg_2KWPBgLlAfxdpx2AI54pPJ85f4W   (the message's own id)
    webhook-timestamp: 1795430400                         (Unix seconds)
    webhook-signature: v1,<base64 of HMAC-SHA256(key, "<id>.<timestamp>." + body)>

The key is the partner's secret: ``whsec_<base64>`` is decoded as the specification says;
any other string is used as its UTF-8 bytes (the same key as ``whsec_`` + the string in
base64, which is what a partner gives its library). The signature header may hold more
than one space-separated ``v1,…`` (a partner rotating its key); one that matches is
enough. The signature covers the timestamp, which stops a captured request from being
replayed outside the window; the runtime accepts each ``webhook-id`` once, which stops a
replay inside it. Comparing in constant time stops timing attacks.

The signature is computed here over the body's bytes, not with the ``standardwebhooks``
package's ``Webhook.verify``: that one decodes the body as UTF-8 (a 500 on other
bytes), has a fixed five-minute window and raises on a malformed header; the package
signs the partners' side (the simulators) and a test checks the two agree.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

from hub.core.errors import AuthenticationError

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
_SIGNATURE = re.compile(r"v1,[A-Za-z0-9+/]{43}=")
_MAX_SIGNATURES = 8


def key(secret: str) -> bytes:
    """The HMAC key of a configured secret: ``whsec_<base64>`` decoded, any other
    string as its UTF-8 bytes; raise ValueError for a ``whsec_`` that is not base64."""
    if not secret.startswith(SECRET_PREFIX):
        return secret.encode()
    try:
        decoded = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a whsec_ secret must be whsec_ followed by base64") from None
    if len(decoded) < 16:
        raise ValueError("a whsec_ secret must hold at least 16 bytes")
    return decoded


def new_secret() -> str:
    """A fresh ``whsec_`` secret of 32 random bytes, as a partner's library expects."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of ``body`` with ``message_id`` at ``timestamp``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(
    secret: bytes | str,
    body: bytes,
    timestamp: int | None = None,
    message_id: str | None = None,
) -> dict[str, str]:
    """The headers as a partner (or a test) sends them, with a fresh ``webhook-id``
    unless one is given; a str ``secret`` goes through ``key``."""
    raw = key(secret) if isinstance(secret, str) else secret
    moment = int(time.time()) if timestamp is None else timestamp
    fresh = message_id or "msg_" + secrets.token_hex(12)
    return {
        ID_HEADER: fresh,
        TIMESTAMP_HEADER: str(moment),
        SIGNATURE_HEADER: sign(raw, fresh, moment, body),
    }


@dataclass(frozen=True)
class Claim:
    """What the headers claim, checked for shape and freshness but not yet against the
    body: enough to refuse most forgeries before a byte of the body is read."""

    message_id: str
    timestamp: int
    signatures: tuple[str, ...]


def precheck(headers: Mapping[str, str], *, window_s: int, now: float | None = None) -> Claim:
    """Check the three headers' shape and the timestamp window (no body needed); raise
    AuthenticationError saying which part fails."""
    message_id = headers.get(ID_HEADER)
    timestamp = headers.get(TIMESTAMP_HEADER)
    signature = headers.get(SIGNATURE_HEADER)
    if not message_id or not timestamp or not signature:
        raise AuthenticationError(
            f"the {ID_HEADER}, {TIMESTAMP_HEADER} and {SIGNATURE_HEADER} headers are required"
        )
    if not _ID.fullmatch(message_id):
        raise AuthenticationError(
            f"{ID_HEADER} must be 1 to 128 letters, digits, _ . : or -", field=ID_HEADER
        )
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise AuthenticationError(f"{TIMESTAMP_HEADER} must be Unix seconds")
    moment = int(timestamp)
    if abs((time.time() if now is None else now) - moment) > window_s:
        raise AuthenticationError(f"the timestamp is outside the {window_s} s replay window")
    offered = tuple(s for s in signature.split(" ") if s)
    if not offered or len(offered) > _MAX_SIGNATURES:
        raise AuthenticationError(
            f"{SIGNATURE_HEADER} must hold 1 to {_MAX_SIGNATURES} space-separated signatures"
        )
    ours = tuple(s for s in offered if _SIGNATURE.fullmatch(s))
    if not ours:
        raise AuthenticationError(f"{SIGNATURE_HEADER} holds no v1,<base64 of 32 bytes>")
    return Claim(message_id, moment, ours)


def verify(secret: bytes, body: bytes, claim: Claim) -> None:
    """Return when one of the claimed signatures is the body's; raise AuthenticationError
    otherwise."""
    expected = sign(secret, claim.message_id, claim.timestamp, body).encode()
    if not any(hmac.compare_digest(expected, s.encode()) for s in claim.signatures):
        raise AuthenticationError("the signature does not match the body")
