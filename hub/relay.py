"""The relay: the state store is the source of truth, Kafka the transport.

A webhook's 202 comes after the accepted event is committed (``state/accepted``); the
inbound connector publishes it at once, and what it could not publish (the broker away)
the relay publishes, in order. The router's deliveries stay in the outbox until their
connector has them (``state/outbox``).

When the broker turns out to be new and empty (tansu killed with its hub, a cluster
rebuilt), which the relay sees because the cluster id changed or a partition of the
hub's topics went back below the furthest end offset the store has seen, it creates the
topics and sends again every accepted event the router does not have and every delivery
no connector has; the idempotency keys make the repeats harmless. That finding is kept
in the store until a re-drive completes: a re-drive can fail (tansu answers writes that
race its topics' creation with UNKNOWN_SERVER_ERROR), and by the next look the new
broker may already hold more than the mark of the one it replaced.

A consumer whose position came from the lost broker can skip what the re-drive wrote
below it. So what is still not had a minute after it was sent, its readers caught up, is
sent again too. Settled rows are pruned.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.bus.admin import BrokerWatch, consumer_lag, ensure_topics
from hub.core.polling import RESTING_PAUSE_S, next_pause
from hub.core.topics import ROUTED_TOPICS
from hub.logs import get_logger
from hub.schemas.partners import hub_topics
from hub.settings import KafkaSettings
from hub.state import accepted, outbox
from hub.state.database import upsert_insert
from hub.state.tables import BrokerMark

log = get_logger(__name__)
MARK = "kafka"
GRACE = dt.timedelta(seconds=2)
"""An unpublished accepted event or delivery younger than this is still its webhook's,
or its router's, to publish."""
CHECK_INTERVAL_S = RESTING_PAUSE_S
PRUNE_INTERVAL_S = 30.0
STALE = dt.timedelta(seconds=60)
"""An accepted event published this long ago and still not routed, with the router
caught up, is published again; so is a delivery no connector has, its readers caught
up."""
ROUTED_TOPIC_NAMES = tuple(t.name for t in ROUTED_TOPICS)


@dataclass(frozen=True)
class Redriven:
    events: int
    deliveries: int


class Relay:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        send: outbox.Send,
        kafka: KafkaSettings,
        *,
        router: str,
        deliveries: Mapping[str, Sequence[str]] | None = None,
        interval_s: float = 0.5,
    ) -> None:
        """``deliveries``: the consumer groups of this process's outbound connectors and
        the topics they read, whose stale deliveries this relay sends again."""
        self._sessions = sessions
        self._send = send
        self._kafka = kafka
        self._router = router
        self._deliveries = dict(deliveries or {})
        self._delivery_topics = {t for topics in self._deliveries.values() for t in topics}
        self._interval_s = interval_s
        self._broker = BrokerWatch(kafka, [t.name for t in hub_topics()])

    async def publish_waiting(self) -> int:
        """Publish, in order, the accepted events their webhook could not publish, and
        the deliveries the router could not send."""
        before = dt.datetime.now(dt.UTC) - GRACE
        async with self._sessions() as session:
            rows = await accepted.unpublished(session, before)
        if rows:
            await self._publish(rows)
        deliveries = await outbox.flush(self._sessions, self._send, staged_before=before)
        if rows or deliveries:
            log.info("relay_published", events=len(rows), deliveries=deliveries)
        return len(rows) + deliveries

    async def broker_is_new(self) -> bool:
        """True when the broker lost what it had: another cluster id than the one the
        store saw, or a partition of the hub's topics whose end offset went back; and
        from then on until a re-drive has completed (:meth:`owe_redrive`). The store's
        marks follow what the broker holds now."""
        # The mark first, then the broker: what the broker holds now is at least what
        # any process saw before, so another process raising the mark meanwhile can
        # never look like offsets going back.
        async with self._sessions() as session:
            mark = await session.get(BrokerMark, MARK)
        if mark is not None and mark.redrive_owed_since is not None:
            return True
        state = await self._broker.read()
        if mark is None:  # the first look: only work left from before can be missing
            async with self._sessions() as session:
                unsettled = await accepted.count(session) + await outbox.pending(session)
            await self._set_mark(state.cluster_id, state.ends)
            if unsettled:
                await self.owe_redrive()
            return unsettled > 0
        seen: dict[str, int] = json.loads(mark.offsets)
        if mark.cluster_id != state.cluster_id or any(
            state.ends.get(partition, 0) < end for partition, end in seen.items()
        ):
            await self.owe_redrive()
            return True
        furthest = {p: max(seen.get(p, 0), end) for p, end in state.ends.items()}
        if furthest != seen:
            await self._set_mark(state.cluster_id, furthest)
        return False

    async def owe_redrive(self) -> None:
        """Keep in the store that the broker is new: every look re-drives (in any hub
        process, also after a restart) until a re-drive completes. Without a mark there
        is nothing to keep it in, and the first look finds what is owed anyway."""
        async with self._sessions.begin() as session:
            owed = await session.execute(
                update(BrokerMark)
                .where(BrokerMark.name == MARK, BrokerMark.redrive_owed_since.is_(None))
                .values(redrive_owed_since=dt.datetime.now(dt.UTC))
            )
        if owed.rowcount:  # type: ignore[attr-defined]
            log.warning("broker_new_redrive_owed")

    async def redrive(self) -> Redriven:
        """Create the topics, then send again what the new broker lost, in order; the
        mark follows what the broker holds afterwards, and the re-drive owed since
        before this one began is settled. The deliveries go first: they come from events
        routed before any the router has still to route, whose deliveries must not
        overtake them."""
        started = dt.datetime.now(dt.UTC)
        await ensure_topics(self._kafka, hub_topics())
        deliveries = await outbox.resend_unsettled(self._sessions, self._send)
        async with self._sessions() as session:
            events = await accepted.unrouted(session, self._router)
        if events:
            await self._publish(events)
        state = await self._broker.read()
        await self._set_mark(state.cluster_id, state.ends, redriven_since=started)
        log.warning("broker_new_redriven", events=len(events), deliveries=deliveries)
        return Redriven(len(events), deliveries)

    async def resend_stale(self) -> Redriven:
        """What was published a while ago and is still not had, while its readers have
        read everything there is to read: the broker lost it after all, or a consumer
        skipped it, its position carried over from a broker that is gone (a new, empty
        broker soon holds records at the offsets the old one had reached). Accepted
        events the router does not have, and deliveries this process's outbound
        connectors do not have, are published again, in order."""
        cutoff = dt.datetime.now(dt.UTC) - STALE
        async with self._sessions() as session:
            events = await accepted.unrouted(session, self._router, published_before=cutoff)
            deliveries = (
                await outbox.unsettled(session, sent_before=cutoff, topics=self._delivery_topics)
                if self._delivery_topics
                else []
            )
        if not events and not deliveries:
            return Redriven(0, 0)
        readers = {**self._deliveries} if deliveries else {}
        if events:
            readers[self._router] = ROUTED_TOPIC_NAMES
        lag = await consumer_lag(self._kafka, readers)
        if any(lag.get(group, 0) > 0 for group in self._deliveries):
            deliveries = []  # still reading: late, not lost
        if lag.get(self._router, 0) > 0:
            events = []
        resent = await outbox.resend(self._sessions, self._send, deliveries)
        if events:
            await self._publish(events)
        if events or resent:
            log.warning("relay_resent_stale", events=len(events), deliveries=resent)
        return Redriven(len(events), resent)

    async def _publish(self, events: Sequence[accepted.Accepted]) -> None:
        """Send accepted events, in order, and mark them published."""
        await self._send([row.record for row in events])
        async with self._sessions.begin() as session:
            await accepted.mark_published(session, [row.seq for row in events])

    async def prune(self) -> int:
        async with self._sessions.begin() as session:
            return await accepted.prune(session, self._router) + await outbox.prune(session)

    async def check(self) -> Redriven | None:
        """One look at the broker: re-drive when it is new, or still owed a re-drive."""
        if await self.broker_is_new():
            return await self.redrive()
        return None

    async def run(self) -> None:
        """For as long as the hub runs; a failed round (the broker away) is tried again.
        A round that found nothing to publish doubles the pause before the next, up to
        the broker check's interval (:func:`~hub.core.polling.next_pause`)."""
        checked_at = pruned_at = 0.0
        pause = self._interval_s
        try:
            while True:
                try:
                    if time.monotonic() - checked_at >= CHECK_INTERVAL_S:
                        checked_at = time.monotonic()
                        await self.check()
                    published = await self.publish_waiting()
                    if time.monotonic() - pruned_at >= PRUNE_INTERVAL_S:
                        pruned_at = time.monotonic()
                        await self.resend_stale()
                        await self.prune()
                except Exception as error:  # the broker or the store away: the next round
                    log.warning("relay_round_failed", error=type(error).__name__)
                    published = 1
                pause = next_pause(pause, self._interval_s, busy=published > 0)
                await asyncio.sleep(pause)
        finally:
            await self.close()

    async def close(self) -> None:
        """Close the clients the relay keeps open to look at the broker."""
        await self._broker.close()

    async def _set_mark(
        self,
        cluster_id: str,
        offsets: dict[str, int],
        *,
        redriven_since: dt.datetime | None = None,
    ) -> None:
        """Raise (or, after a re-drive, reset) the mark. Only a re-drive settles what is
        owed, and only what was owed when it began: another process may have found the
        broker new meanwhile."""
        async with self._sessions.begin() as session:
            insert = upsert_insert(session)
            values = {
                "cluster_id": cluster_id,
                "offsets": json.dumps(offsets, sort_keys=True),
                "checked_at": dt.datetime.now(dt.UTC),
            }
            statement = insert(BrokerMark).values(name=MARK, **values)
            await session.execute(
                statement.on_conflict_do_update(index_elements=["name"], set_=values)
            )
            if redriven_since is not None:
                await session.execute(
                    update(BrokerMark)
                    .where(
                        BrokerMark.name == MARK,
                        BrokerMark.redrive_owed_since <= redriven_since,
                    )
                    .values(redrive_owed_since=None)
                )
