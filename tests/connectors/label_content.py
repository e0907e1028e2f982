"""Label deliveries as the router makes them for the three label partners (flows B, C)."""

from __future__ import annotations

from typing import Any

from hub.connectors.testing import sample_delivery
from hub.schemas.case import ClientExcluded, ClientIncluded
from hub.schemas.categories import DataCategory
from hub.schemas.deliveries import Flow, NotificationDelivery

L, C = DataCategory.LABEL, DataCategory.CONTACT
REFERENCE = "lla-0123456789abcdef0123456789abcdef"
LLC_NAME = "L. Coördinator-Testpersoon"
SET_CONTENT: dict[str, Any] = {
    "levensloopaanpak": True,
    "zvh": "zvh:amsterdam",
    "included_since": "2026-03-01",
    "handling_advice": "Rustig benaderen; bel de LLC.",
    "llc": {
        "name": LLC_NAME,
        "role": "levensloopcoordinator",
        "organisation": "Fivoor",
        "partner": "llz:fivoor",
        "phone": "010-0000000",
    },
    "casusregisseur": {
        "name": "C. Regisseur",
        "role": "casusregisseur",
        "organisation": "Gemeente Amsterdam",
        "partner": "gemeente:GM0363",
        "phone": "020-0000000",
    },
    "procesregisseur": {
        "name": "P. Regisseur",
        "role": "procesregisseur",
        "organisation": "ZVH Amsterdam",
        "partner": "zvh:amsterdam",
    },
}
SET_CATEGORIES = {
    name: (C if name in {"llc", "casusregisseur", "procesregisseur"} else L) for name in SET_CONTENT
}
WITHDRAW_CONTENT: dict[str, Any] = {
    "levensloopaanpak": False,
    "zvh": "zvh:amsterdam",
    "excluded_on": "2028-03-01",
}


def label_set(recipient: str, role: str) -> NotificationDelivery:
    return sample_delivery(
        recipient,
        ClientIncluded,
        SET_CONTENT,
        SET_CATEGORIES,
        flow=Flow.B,
        role=role,
        label_reference=REFERENCE,
    )


def label_withdrawn(recipient: str, role: str) -> NotificationDelivery:
    return sample_delivery(
        recipient,
        ClientExcluded,
        WITHDRAW_CONTENT,
        dict.fromkeys(WITHDRAW_CONTENT, L),
        flow=Flow.C,
        role=role,
        label_reference=REFERENCE,
    )
