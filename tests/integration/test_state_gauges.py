"""The state gauges the alerts read (deploy/prometheus/ketenhub-alerts.yaml), from a
store in a known state, on SQLite and PostgreSQL: how long the oldest delivery has been
held, detention data past its erasure date, and days left on a certificate, a
connector's mutual-TLS client certificate among them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncEngine

from hub import monitoring
from hub.app import presented_certificates
from hub.breaker import Breakers
from hub.connectors.pi.backoffice import PiBackoffice
from hub.connectors.zvh.notifications import ZvhNotifications
from hub.core.record import KafkaRecord
from hub.identity.keyfiles import KeyDirectory
from hub.settings import HttpSettings, KafkaSettings
from hub.state import holdback
from hub.state.database import sessionmaker
from hub.state.outbox import OUTBOUND_PREFIX
from hub.state.tables import DetentionRecord
from tests.certificates import self_signed_pem


async def test_the_gauges_the_alerts_read(engine: AsyncEngine, tmp_path: Path) -> None:
    sessions = sessionmaker(engine)
    now = dt.datetime.now(dt.UTC)
    today = now.date()
    async with sessions.begin() as session:
        await holdback.hold(
            session,
            holdback.Lane(f"{OUTBOUND_PREFIX}llc", "psn-t1-a", "llz:fivoor"),
            "d-1",
            KafkaRecord("delivery.llz.v1", b"psn-t1-a", b"{}", {}),
            reason="partner down",
            now=now - dt.timedelta(hours=2),
            next_attempt_at=now,
        )
        for n, erase_after in enumerate((today - dt.timedelta(days=3), today)):
            session.add(
                DetentionRecord(
                    subject=f"psn-t1-{n}",
                    facility_code="PI-AMS",
                    facility_name="PI Amsterdam",
                    since=today - dt.timedelta(days=200),
                    released_on=today - dt.timedelta(days=190),
                    erase_after=erase_after,
                    last_event_id=f"e-{n}",
                    stay_key=f"e-{n}",
                )
            )
    await _refresh(
        engine,
        breakers={"llc": Breakers(), "zvh": Breakers()},
        certificates={
            "https": monitoring.not_after(
                self_signed_pem(tmp_path / "https.pem", "hub.test", days=10)
            ),
            "broken": monitoring.not_after(tmp_path / "missing.pem"),
        },
    )

    def value(name: str, **labels: str) -> float | None:
        return REGISTRY.get_sample_value(name, labels)

    held = value("ketenhub_held_oldest_seconds", connector="llc") or 0
    assert 7100 < held < 7300, "held two hours ago"
    assert value("ketenhub_held_oldest_seconds", connector="zvh") == 0, "nothing held"
    assert value("ketenhub_erasure_overdue") == 1, "only the record past its date by a day"
    days = (value("ketenhub_certificate_expiry_seconds", certificate="https") or 0) / 86400
    assert 9.9 < days <= 10
    assert value("ketenhub_certificate_expiry_seconds", certificate="broken") == 0


async def test_a_connectors_client_certificate_is_measured(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """A partner refuses a lapsed client certificate as surely as the broker does: each
    connector's is measured beside the hub's own, named after its connector."""
    https = self_signed_pem(tmp_path / "https.pem", "hub.test", days=30)
    client = self_signed_pem(tmp_path / "zvh.pem", "hub.zvh.test", days=5)
    with_certificate = ZvhNotifications.from_config(
        {"base_url": "https://zvh.test/api", "client_cert": client, "client_key": tmp_path / "k"}
    )
    without = PiBackoffice.from_config({"base_url": "https://pi.test/api"})
    certificates = presented_certificates(
        HttpSettings(tls_certfile=https, tls_keyfile=tmp_path / "https.key"),
        KafkaSettings(),
        [with_certificate, without],
    )
    assert certificates == {"https": https, "connector-zvh-notifications": client}
    loaded = {name: monitoring.not_after(path) for name, path in certificates.items()}
    await _refresh(engine, certificates=loaded)
    seconds = REGISTRY.get_sample_value(
        "ketenhub_certificate_expiry_seconds", {"certificate": "connector-zvh-notifications"}
    )
    assert 4.9 < (seconds or 0) / 86400 <= 5
    self_signed_pem(tmp_path / "zvh.pem", "hub.zvh.test", days=365)  # renewed on disk
    await _refresh(engine, certificates=loaded)
    again = REGISTRY.get_sample_value(
        "ketenhub_certificate_expiry_seconds", {"certificate": "connector-zvh-notifications"}
    )
    assert 4.9 < (again or 0) / 86400 <= 5, "what was loaded is presented until a restart"


async def test_the_age_of_each_kinds_active_key_is_measured(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """Keys do not expire; the rotation alert counts from when the hub made the active
    key, as it noted beside it: a copy of the key file (a restore, a Secret volume) does
    not make it young, a rotation does, and a key with no note is not measured."""
    directory = KeyDirectory(tmp_path, "master", default_id="m1", create=True)
    made = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    (tmp_path / "master-m1.made").write_text(made.isoformat(timespec="seconds"))
    key = tmp_path / "master-m1.key"
    key.write_text(key.read_text())  # copied back from a backup: a new file time

    async def age(kind: str) -> float | None:
        await _refresh(engine, keys={kind: directory})
        return REGISTRY.get_sample_value("ketenhub_key_age_seconds", {"kind": kind})

    assert 399.9 < (await age("master") or 0) / 86400 < 400.1
    directory.rotate()
    assert (await age("master") or 1e9) < 60, "the new key is the one counted"
    given = tmp_path / "given"
    given.mkdir()
    (given / "pseudonym-k1.key").write_text("11" * 32)
    directory = KeyDirectory(given, "pseudonym", default_id="k1", create=False)
    assert await age("pseudonym") is None, "a key the hub did not make has no known age"


async def _refresh(engine: AsyncEngine, **measured: Any) -> None:
    """One round of the state gauges, with no broker (lag is skipped) and no connector."""
    await monitoring.refresh(
        kafka=KafkaSettings(bootstrap_servers="127.0.0.1:1"),
        groups={},
        sessions=sessionmaker(engine),
        connectors=[],
        incomplete_after_s=300,
        **measured,
    )
