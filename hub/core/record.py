"""The record the hub stores and publishes: one Kafka record, already encoded.

It lives at the bottom so the state store can keep records (the outbox, accepted
events, dead letters) without knowing how the bus encodes them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KafkaRecord:
    topic: str
    key: bytes
    value: bytes
    headers: dict[str, str]

    def header_list(self) -> list[tuple[str, bytes]]:
        return [(k, v.encode("utf-8")) for k, v in self.headers.items()]
