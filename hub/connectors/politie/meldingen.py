"""Signal deliveries → a notice (melding) to the police: ``POST {base_url}/meldingen``.

The police are a label partner, so the policy gives them no signal content, and never a
medical field, except under a recorded conflict-of-duties decision (DOORBREKING) that
names them: a professional judged that sharing, say, a crisis contact's assessment
prevents serious harm to others. Such a delivery's decision is ``PERMIT_BREAK_GLASS``
and must be reviewed afterwards, so the notice says so in so many words, and carries
exactly the fields the policy released, with the outcome and its legal basis::

    {"meldingId": "…", "persoon": {"pseudoniem": "psn-…"}, "abonnementId": null,
     "over": "nl.ketenhub.signal.crisis-contact.v1", "inhoud": {"assessment": "…"},
     "besluit": {"uitkomst": "PERMIT_BREAK_GLASS", "grondslagen": ["conflict-van-plichten"],
                 "besluitIds": ["DVP-1"], …},
     "doorbreking": true, "toetsingVereist": true, …}

The subscriptions (``PUT``/``DELETE /abonnementen/{id}``) stay with
``politie-abonnementen``: both read the police's delivery topic, and each leaves the
other's events alone (``OutboundRuntime``'s ``others``). ``Idempotency-Key`` is the
delivery id; a 409 means the police have the notice already. Like the subscription, the
notice names the client by pseudonym unless the policy permits the BSN.
"""

from __future__ import annotations

from typing import Any, ClassVar

from hub.connectors.base import Delivery
from hub.connectors.json_notifications import JsonNotifications, JsonNotificationsConfig
from hub.schemas.base import CanonicalEvent
from hub.schemas.deliveries import Outcome
from hub.schemas.signals import CrisisContact, PoliceEncounter, ProbationSignal

PolitieMeldingenConfig = JsonNotificationsConfig


class PolitieMeldingen(JsonNotifications):
    name: ClassVar[str] = "politie-meldingen"
    version: ClassVar[str] = "1.0.0"
    partner: ClassVar[str] = "politie"
    accepts: ClassVar[tuple[type[CanonicalEvent], ...]] = (
        CrisisContact,
        PoliceEncounter,
        ProbationSignal,
    )
    api_name: ClassVar[str | None] = "politie"

    def render(self, delivery: Delivery) -> dict[str, Any]:
        """The released content as it came, never more: no names of removed fields, no
        defaults filled in, so the notice shows the police exactly what was disclosed."""
        notification = delivery.notification
        decision = notification.decision
        break_glass = decision.outcome is Outcome.PERMIT_BREAK_GLASS
        return {
            "meldingId": delivery.delivery_id,
            "ontvanger": notification.recipient,
            "persoon": {"bsn": delivery.bsn} if delivery.bsn else {"pseudoniem": delivery.subject},
            "abonnementId": notification.label_reference,
            "stroom": notification.flow.value,
            "over": notification.source_type,
            "inhoud": notification.content,
            "categorieen": {
                field: notification.content_categories[field].value
                for field in notification.content
            },
            "besluit": {
                "uitkomst": decision.outcome.value,
                "grondslagen": list(decision.legal_bases),
                "regels": list(decision.rule_ids),
                "beleidsversie": decision.policy_version,
                "doel": notification.purpose,
                "besluitIds": list(decision.released_by),
            },
            "doorbreking": break_glass,
            "toetsingVereist": break_glass,
            "correlatieId": delivery.correlation_id,
        }
