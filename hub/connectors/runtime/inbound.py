"""Runs an inbound connector: size limit, translation, validation, pseudonymisation,
sealing of the payload, idempotency and publication, so the connector
only translates.

All events of one partner message are validated before any is accepted, so a
malformed message publishes nothing. Each event's id is derived from the partner's own
record id; its claim commits with the event itself (``state/accepted``), before the
answer, so a message received again (a redelivered webhook, a file dropped twice, a
restart) publishes nothing new, and an accepted one is never lost: what cannot be
published at once, the relay publishes later.

Every event is checked against the clock: a fact dated ahead (a detention starting
next week, a birth date to come) is refused naming the field, whatever the connector
(``hub.schemas.plausibility``).

A signed webhook is accepted once: its ``webhook-id`` is claimed in the transaction that
accepts, so a message accepted before is refused when sent again (409), while a request
that failed may be sent again as it was. The ids this process accepted are also kept in
memory for the replay window (``replays``), so most replays are refused before any work.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub import tracing
from hub.bus.codec import encode
from hub.bus.sealing import scope_of
from hub.clock import SYSTEM_CLOCK, Clock
from hub.connectors.base import Emitted, InboundConnector, InboundMessage
from hub.connectors.runtime import metrics, signing
from hub.connectors.runtime.replays import RecentIds
from hub.core.errors import ContractError, HubError, PayloadTooLarge, ReplayedRequest
from hub.core.record import KafkaRecord
from hub.identity.keyring import Keyring
from hub.identity.pseudonym import Pseudonymiser
from hub.identity.vault import IdentityVault
from hub.logs import get_logger, message_context
from hub.schemas.base import CanonicalEvent
from hub.schemas.envelope import Envelope, partner_source
from hub.schemas.plausibility import too_far_ahead
from hub.settings import PlausibilitySettings
from hub.state import accepted, idempotency, labels

NONCE_PREFIX = "webhook-nonce:"
PUBLISH_WAIT_S = 5.0
"""Longest a webhook's answer waits on the broker once its events are committed: a
broker that cannot take writes delays the partner no longer (the relay publishes)."""
EVENT_NAMESPACE = uuid.UUID("0f6d3a52-3f0e-4d59-8a8e-0c5f4c6b2b11")
Send = Callable[[KafkaRecord], Awaitable[None]]
log = get_logger(__name__)


@dataclass(frozen=True)
class Prepared:
    envelope: Envelope
    event: CanonicalEvent
    bsn: str | None


def event_id(connector: str, source_id: str, event_type: str, subject: str) -> str:
    """Stable for the same partner record about the same person, so a re-sent message
    is recognised; a record re-sent with a corrected BSN is a new event."""
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{connector}|{source_id}|{event_type}|{subject}"))


class InboundRuntime:
    def __init__(
        self,
        connector: InboundConnector[Any],
        *,
        sessions: async_sessionmaker[AsyncSession],
        send: Send,
        pseudonymiser: Pseudonymiser,
        vault: IdentityVault,
        keyring: Keyring | None = None,
        clock: Clock = SYSTEM_CLOCK,
        plausibility: PlausibilitySettings | None = None,
        marks: accepted.PublishMarks | None = None,
    ):
        """``marks``: the process's published events still to be marked so, shared by
        its inbound connectors (one of its own when not given)."""
        self.connector = connector
        self._marks = marks or accepted.PublishMarks(sessions)
        self._keyring = keyring
        self._clock = clock
        self._plausibility = plausibility or PlausibilitySettings()
        self._sessions = sessions
        self._send = send
        self._pseudonymiser = pseudonymiser
        self._vault = vault
        self.consumer = f"inbound:{connector.name}"
        self.nonce_consumer = f"{NONCE_PREFIX}{connector.name}"
        window_s = float(getattr(connector.config, "replay_window_s", 300))
        self._accepted_ids = RecentIds(keep_s=2 * window_s)

    @property
    def max_body_bytes(self) -> int:
        return int(getattr(self.connector.config, "max_body_bytes", 1_048_576))

    def refuse_replayed(self, message_id: str) -> None:
        """Refuse (409) a webhook-id this process accepted before, so a replayed request
        is answered before it takes any of the partner's allowance; the claim in the
        accepting transaction decides every other case."""
        if message_id in self._accepted_ids:
            raise self._replayed()

    def _replayed(self) -> ReplayedRequest:
        metrics.MESSAGES.labels(self.connector.name, "in", "replayed").inc()
        log.warning("inbound_replayed", connector=self.connector.name)
        return ReplayedRequest(
            "a request with this webhook-id was accepted before; a new message needs a "
            "new webhook-id",
            field=signing.ID_HEADER,
        )

    def translate(self, message: InboundMessage) -> list[Emitted]:
        """The connector's events for ``message``, each checked against what the
        connector declared; raises ContractError."""
        if len(message.body) > self.max_body_bytes:
            raise PayloadTooLarge(
                f"{len(message.body)} bytes; this connector accepts {self.max_body_bytes}",
                field="body",
            )
        try:
            emitted = list(self.connector.translate(message))
        except HubError:
            raise
        except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError) as exc:
            raise ContractError(
                f"{self.connector.name} could not read the message: {type(exc).__name__}",
                field="body",
            ) from None
        if not emitted:
            raise ContractError("the message holds no event this connector knows", field="body")
        now = self._clock.now()
        for n, item in enumerate(emitted):
            where = f"events.{n}"
            if not isinstance(item.event, self.connector.emits):
                raise ContractError(
                    f"{type(item.event).__name__} is not among the declared events", field=where
                )
            if not item.source_id:
                raise ContractError("every event needs the partner's record id", field=where)
            sender = self._sender(item)
            try:
                served = self.connector.serves(sender)
            except ValueError:
                served = False
            if not served:
                raise ContractError(
                    f"{sender!r} is not a partner this connector serves", field=f"{where}.partner"
                )
            self._plausible(item, where, now)
        return emitted

    def _plausible(self, item: Emitted, where: str, now: dt.datetime) -> None:
        """Refuse a fact dated ahead of ``now`` beyond the tolerance, naming the field as
        the partner sent it. The value is not echoed: a birth date is personal data."""
        found = too_far_ahead(item.event, now, self._plausibility)
        if not found:
            return
        first, tolerance = found[0], self._plausibility
        if isinstance(first.latest, dt.datetime):
            allowed = f"now plus {tolerance.minutes_ahead:g} minutes of clock skew"
        else:
            allowed = f"today in {tolerance.timezone} plus {tolerance.days_ahead} day(s)"
        raise ContractError(
            f"{first.field} lies in the future: a fact may be dated at most "
            f"{first.latest.isoformat()} ({allowed})",
            field=item.partner_fields.get(first.field, f"{where}.{first.field}"),
            detail=f"{len(found) - 1} more field(s) in the future" if len(found) > 1 else None,
        )

    def _sender(self, item: Emitted) -> str:
        return item.partner or self.connector.partner

    async def _subject(self, item: Emitted, where: str) -> str:
        """The pseudonym of the client ``item`` is about: from its BSN, from the label
        reference the hub gave the partner, or from both when they agree. Only a label
        reference costs a state look-up."""
        subject = None
        if item.bsn is not None:
            try:
                subject = self._pseudonymiser.pseudonym(item.bsn)
            except ValueError as error:
                raise ContractError(str(error), field=f"{where}.bsn") from None
        if item.label_reference is not None:
            async with self._sessions() as session:
                holder = await labels.resolve(session, self._sender(item), item.label_reference)
            if holder is None:
                raise ContractError(
                    f"{self._sender(item)} holds no label under this reference "
                    "(unknown, or withdrawn)",
                    field=item.label_reference_field,
                )
            if subject is not None and holder != subject:
                raise ContractError(
                    "the label reference belongs to another client than the BSN",
                    field=item.label_reference_field,
                )
            subject = holder
        if subject is None:
            raise ContractError(
                "the message names no client: neither a BSN nor a label reference",
                field=f"{where}.bsn",
            )
        return subject

    async def prepare(self, message: InboundMessage) -> list[Prepared]:
        """Translate and validate everything; raises ContractError and publishes nothing."""
        emitted = self.translate(message)
        prepared = []
        for n, item in enumerate(emitted):
            if item.event.model_extra:
                # The bus keeps what it does not know; a connector must not invent it.
                raise ContractError(
                    f"{self.connector.name} emitted fields {item.event.event_type()} does not "
                    f"declare: {sorted(item.event.model_extra)}",
                    field=f"events.{n}",
                )
            subject = await self._subject(item, f"events.{n}")
            event = item.event.for_subject(subject=subject, bsn=item.bsn)
            envelope = Envelope.for_event(
                event,
                subject=subject,
                source=partner_source(self._sender(item)),
                event_id=event_id(self.connector.name, item.source_id, event.event_type(), subject),
                correlation_id=item.correlation_id,
            )
            prepared.append(Prepared(envelope, event, item.bsn))
        return prepared

    async def ingest(self, message: InboundMessage) -> list[Envelope]:
        """Publish the message's events that were not published before; returns those."""
        started = time.perf_counter()
        try:
            prepared = await self.prepare(message)
        except ContractError as error:
            metrics.MESSAGES.labels(self.connector.name, "in", "rejected").inc()
            log.warning(
                "inbound_rejected",
                connector=self.connector.name,
                error=error.slug,
                field=error.field,
            )
            raise
        taken: list[Envelope] = []
        kept: list[accepted.Accepted] = []
        if len(self._pseudonymiser.key_set().keys) > 1:
            await self._remember_first(prepared)
        async with self._sessions.begin() as session:
            if message.nonce is not None and not await idempotency.claim(
                session, self.nonce_consumer, message.nonce
            ):
                raise self._replayed()
            marked = await self._marks.mark_in(session)
            keys = (
                await self._keyring.current_in(
                    session, [(p.envelope.subject, scope_of(p.event)) for p in prepared]
                )
                if self._keyring is not None
                else {}
            )
            for item in prepared:
                with message_context(message_id=item.envelope.id):
                    if not await idempotency.claim(session, self.consumer, item.envelope.id):
                        log.info("inbound_duplicate", connector=self.connector.name)
                        continue
                    if item.bsn is not None:
                        await self._vault.remember(session, item.envelope.subject, item.bsn)
                    key = keys.get((item.envelope.subject, scope_of(item.event)))
                    record = encode(item.event, item.envelope, key)
                    tracing.inject(record.headers)
                    kept.append(
                        await accepted.accept(
                            session, item.envelope.id, item.envelope.subject, record
                        )
                    )
                    taken.append(item.envelope)
            behind = (
                await accepted.waiting_before(
                    session,
                    [k.subject for k in kept],
                    min(k.seq for k in kept),
                    self._marks.pending,
                )
                if kept
                else set()
            )
        # Committed: the message is durable, whatever happens to the publish below.
        self._marks.marked(marked)
        if message.nonce is not None:
            self._accepted_ids.add(message.nonce)
        await self._publish(kept, behind)
        outcome = "published" if taken else "duplicate"
        metrics.MESSAGES.labels(self.connector.name, "in", outcome).inc()
        metrics.SECONDS.labels(self.connector.name, "in").observe(time.perf_counter() - started)
        return taken

    async def _publish(self, kept: Sequence[accepted.Accepted], behind: set[str]) -> None:
        """Publish what was just accepted, unless an earlier event of the same client is
        still waiting for the relay (``behind``: it must not be overtaken); what is not
        published here, the relay publishes in order."""
        if not kept:
            return
        sent: list[int] = []
        try:
            async with asyncio.timeout(PUBLISH_WAIT_S):
                await self._publish_in_order(kept, behind, sent)
        except Exception as error:  # the event is committed: the relay publishes it later
            log.warning(
                "inbound_publish_deferred",
                connector=self.connector.name,
                error=type(error).__name__,
            )
        self._marks.published(sent)

    async def _publish_in_order(
        self, kept: Sequence[accepted.Accepted], behind: set[str], sent: list[int]
    ) -> None:
        for item in kept:
            if item.subject in behind:
                continue
            await self._send(item.record)
            sent.append(item.seq)
            log.info(
                "inbound_published",
                connector=self.connector.name,
                subject=item.subject,
                message_id=item.event_id,
            )

    async def close(self) -> None:
        """Mark what this runtime's process published (:class:`accepted.PublishMarks`)."""
        await self._marks.close()

    async def _remember_first(self, prepared: Sequence[Prepared]) -> None:
        """While the pseudonym key rotates, the router reads the BSN to move a client's
        state to the new pseudonym; so it is committed before the event can be routed."""
        async with self._sessions.begin() as session:
            for item in prepared:
                if item.bsn is not None:
                    await self._vault.remember(session, item.envelope.subject, item.bsn)
