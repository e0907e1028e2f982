"""Mutual TLS both ways: with ``tls_client_ca`` set, only a partner that shows a
certificate signed by that CA gets an answer from the hub; and the hub shows its own
client certificate to a partner API that requires one."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from hub.app import server_config
from hub.bus.embedded import free_port
from hub.connectors.http import HttpApi, HttpApiConfig
from hub.core.errors import RetryableError
from hub.core.polling import wait_for
from hub.ops_api import Readiness, make_ops_app
from hub.settings import HttpSettings

NOW = dt.datetime.now(dt.UTC)


def _issue(
    name: str,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    ip: str | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0].subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(minutes=5))
        .not_valid_after(NOW + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ip:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
            critical=False,
        )
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256()), key


def _write(
    directory: Path, name: str, pair: tuple[x509.Certificate, ec.EllipticCurvePrivateKey]
) -> tuple[Path, Path]:
    cert, key = pair
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def _ready() -> Readiness:
    return Readiness({"test": True})


@dataclass(frozen=True)
class Pki:
    ca: Path
    partner: tuple[Path, Path]
    stranger: tuple[Path, Path]
    url: str


@contextlib.asynccontextmanager
async def _server_requiring_client_certificates(tmp_path: Path) -> AsyncIterator[Pki]:
    """An HTTPS server on 127.0.0.1 that answers only clients with a certificate from
    its CA; the partner's certificate is from that CA, the stranger's is not."""
    authority = _issue("ketenhub test CA", None, ca=True)
    ca_path, _ = _write(tmp_path, "ca", authority)
    server_cert, server_key = _write(tmp_path, "server", _issue("hub", authority, ip="127.0.0.1"))
    partner = _write(tmp_path, "partner", _issue("partner", authority))
    stranger = _write(tmp_path, "stranger", _issue("x", _issue("stranger CA", None, ca=True)))
    http = HttpSettings(
        port=free_port(),
        tls_certfile=server_cert,
        tls_keyfile=server_key,
        tls_client_ca=ca_path,
    )
    server = uvicorn.Server(server_config(http, make_ops_app(_ready, "test")))
    task = asyncio.create_task(server.serve())
    try:
        await wait_for(lambda: server.started, 10)
        yield Pki(ca_path, partner, stranger, f"https://127.0.0.1:{http.port}")
    finally:
        server.should_exit = True
        await task


async def test_only_a_partner_with_a_trusted_client_certificate_is_answered(
    tmp_path: Path,
) -> None:
    async with _server_requiring_client_certificates(tmp_path) as pki:

        async def get(cert: tuple[Path, Path] | None) -> int:
            context = ssl.create_default_context(cafile=str(pki.ca))
            if cert:
                context.load_cert_chain(str(cert[0]), str(cert[1]))
            async with httpx.AsyncClient(verify=context) as client:
                return (await client.get(f"{pki.url}/healthz")).status_code

        assert await get(pki.partner) == 200
        for refused in (None, pki.stranger):
            with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
                await get(refused)


async def test_outbound_calls_show_the_configured_client_certificate(tmp_path: Path) -> None:
    """A partner API that requires mutual TLS answers the hub's connector only when its
    config names the client certificate (``client_cert``/``client_key``)."""
    async with _server_requiring_client_certificates(tmp_path) as pki:

        def api(cert: tuple[Path, Path] | None, ca: Path | None = pki.ca) -> HttpApi:
            config = HttpApiConfig(
                base_url=pki.url,
                ca_file=ca,
                client_cert=cert[0] if cert else None,
                client_key=cert[1] if cert else None,
            )
            return HttpApi(config, "partner", None)

        async def health(partner: HttpApi) -> int:
            try:
                return (await partner.call("GET", "/healthz")).status_code
            finally:
                await partner.aclose()

        assert await health(api(pki.partner)) == 200
        for refused in (None, pki.stranger):
            with pytest.raises(RetryableError, match="partner unreachable"):
                await health(api(refused))
        # Without its CA bundle the hub does not trust the partner's certificate.
        with pytest.raises(RetryableError, match="unreachable: SSLCertVerificationError"):
            await health(api(pki.partner, ca=None))
    with pytest.raises(ValidationError, match="go together"):
        HttpApiConfig(base_url="https://x.example", client_cert=pki.partner[0])


def test_half_a_tls_configuration_is_refused() -> None:
    with pytest.raises(ValidationError, match="go together"):
        HttpSettings(tls_certfile=Path("server.pem"))
    with pytest.raises(ValidationError, match="needs tls_certfile"):
        HttpSettings(tls_client_ca=Path("ca.pem"))
