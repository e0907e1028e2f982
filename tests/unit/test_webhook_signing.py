"""Webhook signing is Standard Webhooks: what a partner signs with the reference library
(``standardwebhooks``) the hub accepts, what the hub's helper signs the library accepts,
and every malformed header is a 401, never an exception of another kind."""

from __future__ import annotations

import base64
import datetime as dt
import time

import pytest
from standardwebhooks import Webhook

from hub.connectors.base import InboundConfig
from hub.connectors.reclassering import IrisSignals
from hub.connectors.runtime import signing
from hub.core.errors import AuthenticationError, ConfigurationError

RAW_KEY = bytes(range(32))
WHSEC = "whsec_" + base64.b64encode(RAW_KEY).decode()
BODY = '{"schemaVersie": "1", "naam": "Jänssen"}'.encode()


def _check(secret: bytes, body: bytes, headers: dict[str, str]) -> None:
    signing.verify(secret, body, signing.precheck(headers, window_s=300))


def test_a_partner_signing_with_the_reference_library_is_accepted() -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    headers = {
        "webhook-id": "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(WHSEC).sign(
            "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", now, BODY.decode()
        ),
    }
    _check(signing.key(WHSEC), BODY, headers)


def test_the_reference_library_accepts_what_the_hub_helper_signs() -> None:
    headers = signing.signed_headers(WHSEC, BODY)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-signature"].startswith("v1,")
    Webhook(WHSEC).verify(BODY, headers, json_parse=False)


def test_a_whsec_secret_is_decoded_and_a_plain_one_is_its_bytes() -> None:
    assert signing.key(WHSEC) == RAW_KEY
    assert signing.key("plain-secret") == b"plain-secret"
    plain = signing.signed_headers("plain-secret", BODY)
    as_whsec = "whsec_" + base64.b64encode(b"plain-secret").decode()
    Webhook(as_whsec).verify(BODY, plain, json_parse=False)
    assert signing.new_secret().startswith("whsec_")
    assert len(signing.key(signing.new_secret())) == 32


def test_a_key_being_rotated_may_sign_beside_the_new_one() -> None:
    old = signing.signed_headers(b"old-key", BODY, message_id="msg_1")
    new = signing.signed_headers(
        RAW_KEY, BODY, message_id="msg_1", timestamp=int(old["webhook-timestamp"])
    )
    both = {**new, "webhook-signature": f"{old['webhook-signature']} {new['webhook-signature']}"}
    _check(RAW_KEY, BODY, both)
    _check(b"old-key", BODY, both)


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("webhook-id", ""),
        ("webhook-id", "two words"),
        ("webhook-id", "x" * 129),
        ("webhook-timestamp", "1e9"),
        ("webhook-timestamp", "١٧٩٥٤٣٠٤٠٠"),
        ("webhook-timestamp", "9" * 40),
        ("webhook-timestamp", "now-301"),
        ("webhook-timestamp", "now+301"),
        ("webhook-signature", ""),
        ("webhook-signature", "v1"),
        ("webhook-signature", "v1,!!!"),
        ("webhook-signature", "v2," + base64.b64encode(bytes(32)).decode()),
        ("webhook-signature", "sha256=" + "ab" * 32),
        ("webhook-signature", " ".join(["v1," + base64.b64encode(bytes(32)).decode()] * 9)),
    ],
)
def test_a_malformed_or_stale_header_is_refused_before_the_body(header: str, value: str) -> None:
    if value.startswith("now"):  # a moment outside the 300 s window, taken when it runs
        value = str(int(time.time()) + int(value[3:]))
    headers = {**signing.signed_headers(RAW_KEY, BODY), header: value}
    with pytest.raises(AuthenticationError):
        signing.precheck(headers, window_s=300)


def test_a_signature_over_another_body_id_or_key_is_refused() -> None:
    headers = signing.signed_headers(RAW_KEY, BODY)
    with pytest.raises(AuthenticationError, match="does not match"):
        _check(RAW_KEY, BODY + b" ", headers)
    with pytest.raises(AuthenticationError, match="does not match"):
        _check(RAW_KEY, BODY, {**headers, "webhook-id": "msg_other"})
    with pytest.raises(AuthenticationError, match="does not match"):
        _check(b"another-partners-key", BODY, headers)


def test_a_body_that_is_not_utf8_is_signed_and_checked_as_bytes() -> None:
    body = "<a>Jänssen</a>".encode("latin-1")
    _check(RAW_KEY, body, signing.signed_headers(RAW_KEY, body))


def test_a_whsec_secret_that_is_not_base64_is_refused_when_the_settings_load() -> None:
    with pytest.raises(ConfigurationError) as refused:
        IrisSignals.from_config({"webhook_secret": "whsec_not base64!"})
    assert "base64" in str(refused.value)
    assert "not base64!" not in str(refused.value), "the secret is never repeated"
    with pytest.raises(ConfigurationError, match="16 bytes"):
        IrisSignals.from_config({"webhook_secret": "whsec_" + base64.b64encode(b"short").decode()})
    assert InboundConfig(webhook_secret=WHSEC).webhook_secret is not None
