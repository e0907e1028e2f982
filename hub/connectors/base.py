"""The connector contract: what a partner IT team writes. Everything else is the runtime's.

A connector only translates. An inbound connector turns one partner message into
canonical events; an outbound connector hands one delivery to its partner; a look-up
connector answers one question. Kafka, CloudEvents, offsets, idempotency, retries,
dead letters, pseudonymisation, signatures and metrics belong to the runtime
(``hub.connectors.runtime``), so a connector never touches them.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, Self, TypeVar

from pydantic import ConfigDict, Field, SecretStr, ValidationError, field_validator

from hub.connectors.runtime import signing
from hub.core.errors import ConfigurationError, PermanentError
from hub.core.topics import delivery_topic
from hub.schemas.base import CanonicalEvent
from hub.schemas.case import KedoLookupResult
from hub.schemas.deliveries import NotificationDelivery
from hub.schemas.partners import partner_kind
from hub.secret_files import SecretFiles


class ConnectorConfig(SecretFiles):
    """Base of every connector's configuration: unknown keys are errors, secrets are
    ``SecretStr`` (never printed, never logged), each also readable from a file
    (``webhook_secret_file``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class InboundConfig(ConnectorConfig):
    """What the runtime needs to receive for an inbound connector."""

    webhook_secret: SecretStr | None = Field(
        None,
        description="Standard Webhooks secret shared with the partner (whsec_<base64>; "
        "another string is used as its UTF-8 bytes); no secret, no webhook.",
    )
    replay_window_s: int = Field(300, ge=1, le=3600, description="Accepted clock skew.")
    max_body_bytes: int = Field(1_048_576, ge=1, description="Largest message accepted.")
    rate_per_s: float = Field(
        50.0, gt=0, description="Webhook requests a second this partner may send, on average."
    )
    burst: int = Field(100, ge=1, description="Webhook requests this partner may send at once.")
    max_in_flight: int = Field(
        32, ge=1, description="Webhook requests of this partner the hub works on at one time."
    )
    drop_directory: Path | None = Field(None, description="Directory watched for files.")
    poll_interval_s: float = Field(30.0, gt=0, description="Pause between polls / scans.")

    @field_validator("webhook_secret")
    @classmethod
    def _secret_is_a_key(cls, value: SecretStr | None) -> SecretStr | None:
        """A whsec_ secret that is not base64 is refused when the settings load, not on
        the first request."""
        if value is not None:
            signing.key(value.get_secret_value())
        return value


class OutboundConfig(ConnectorConfig):
    """How the runtime retries an outbound connector's deliveries."""

    max_attempts: int | None = Field(
        None,
        ge=1,
        description="Tries before dead-lettering. Unset (the default): no count; a delivery "
        "that fails for a passing reason is retried until retry_max_total_s has passed.",
    )
    backoff_initial_s: float = Field(0.5, ge=0, description="First pause between tries.")
    backoff_max_s: float = Field(
        300.0, ge=0, description="Longest pause between tries (exponential, with jitter)."
    )
    retry_max_total_s: float = Field(
        72 * 3600.0,
        gt=0,
        description="How long a delivery is retried (72 hours): a partner down for hours "
        "gets everything when it returns. Only a permanent answer (a 4xx other than 408, "
        "409, 425 and 429) dead-letters it before.",
    )
    breaker_failures: int = Field(
        5, ge=1, description="Failed attempts in a row that open the partner's circuit breaker."
    )
    breaker_open_s: float = Field(
        30.0, gt=0, description="How long an open breaker leaves the partner alone."
    )


class LookupConfig(ConnectorConfig):
    """How the runtime bounds a look-up."""

    timeout_s: float = Field(2.0, gt=0, description="Longest one attempt may take.")
    budget_s: float = Field(10.0, gt=0, description="Longest all attempts together may take.")


ConfigT = TypeVar("ConfigT", bound=ConnectorConfig)
Kind = Literal["inbound", "outbound", "lookup"]


class Connector(ABC, Generic[ConfigT]):
    """What every connector declares: name, version, partner, config model and a probe."""

    kind: ClassVar[Kind]
    name: ClassVar[str]
    """Unique, lower case: the entry-point name and the key under ``HUB_CONNECTORS__``."""
    version: ClassVar[str]
    partner: ClassVar[str]
    """The partner id (``dji``), or a partner kind (``gemeente``) for one connector that
    serves every partner of that kind."""
    config_model: ClassVar[type[ConnectorConfig]]

    def __init__(self, config: ConfigT):
        self.config = config

    @classmethod
    def from_config(cls, raw: Mapping[str, Any]) -> Self:
        """Validate ``raw`` against ``config_model``; ConfigurationError names the field."""
        try:
            config = cls.config_model.model_validate(dict(raw))
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
            path = ".".join(str(p) for p in first["loc"])
            raise ConfigurationError(
                f"connector {cls.name!r}: {first['msg']}", field=f"connectors.{cls.name}.{path}"
            ) from None
        return cls(config)  # type: ignore[arg-type]

    async def check(self) -> None:
        """Probe the partner system. Raise ``ConfigurationError`` when the configuration
        cannot work, ``RetryableError`` when the system is down for now; return when fine.

        Example::

            async def check(self) -> None:
                response = await self.api().call("GET", "health")  # HttpPartnerApi
                if response.status_code >= 500:
                    raise RetryableError(f"health answered {response.status_code}")
        """

    async def close(self) -> None:
        """Let go of what the connector holds open (its partner API's connections)."""

    @classmethod
    def serves(cls, partner_id: str) -> bool:
        """Whether this connector is the one for ``partner_id``: a class question, so the
        runtime can ask it of connectors that run in another process."""
        return partner_id == cls.partner or partner_kind(partner_id) == cls.partner

    @classmethod
    def topics(cls) -> tuple[str, ...]:
        return ()

    @classmethod
    def describe(cls) -> dict[str, Any]:
        return {
            "name": cls.name,
            "kind": cls.kind,
            "version": cls.version,
            "partner": cls.partner,
            "topics": list(cls.topics()),
        }


@dataclass(frozen=True)
class InboundMessage:
    """One message as the partner sent it, before any parsing."""

    body: bytes
    content_type: str = "application/octet-stream"
    received_via: Literal["webhook", "poll", "file"] = "webhook"
    name: str | None = None
    """The file name for a file drop, the partner's message id where it has one."""
    nonce: str | None = None
    """Set by the webhook to the request's ``webhook-id``: the runtime accepts each once."""
    received_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


@dataclass(frozen=True)
class Emitted:
    """One canonical event an inbound connector made of a partner message.

    ``bsn`` is the subject as the partner knows it; the runtime turns it into the
    pseudonym and it never reaches the bus. A partner that does not hold the BSN names
    the client by the ``label_reference`` the hub gave it with the label (the police
    subscription id); the runtime then finds the client from the label, and refuses a
    reference that no label of this partner carries. Given both, they must agree.

    ``source_id`` is the partner's own id for the record: the runtime derives the event
    id from it, so a message received twice yields the same event once.
    """

    event: CanonicalEvent
    bsn: str | None
    source_id: str
    correlation_id: str | None = None
    partner: str | None = None
    """The partner id that sent it, for a connector that serves a kind of partner (one
    connector for every ZVH); it must be one this connector serves."""
    label_reference: str | None = None
    label_reference_field: str = "label_reference"
    """The partner's name for the reference, so a refusal names the field it sent."""
    partner_fields: Mapping[str, str] = field(default_factory=dict)
    """The partner's names of the event's fields (``{"start_date": "datum"}``), so a
    refusal by the runtime (a fact dated ahead) names the field the partner sent; an
    unnamed field is named by its place in the event (``events.0.start_date``)."""


class InboundConnector(Connector[ConfigT]):
    """Partner → canonical events, for webhooks, polling and file drops alike."""

    kind: ClassVar[Kind] = "inbound"
    emits: ClassVar[tuple[type[CanonicalEvent], ...]]

    @abstractmethod
    def translate(self, message: InboundMessage) -> Sequence[Emitted]:
        """Turn one partner message into canonical events.

        Raise ``ContractError`` (naming the field) for a message that is malformed; the
        runtime answers problem+json or dead-letters it, and publishes nothing of it.

        Example::

            def translate(self, message: InboundMessage) -> Sequence[Emitted]:
                data = read_json(message.body)  # hub.core.json_limits: bounded
                event = ProbationSignal(kind=data["soort"], summary=data["tekst"], ...)
                return [Emitted(event=event, bsn=data["bsn"], source_id=data["id"])]
        """

    async def poll(self) -> Sequence[InboundMessage]:
        """Fetch what the partner has for us (polling connectors override this)."""
        return ()

    @classmethod
    def topics(cls) -> tuple[str, ...]:
        return tuple(dict.fromkeys(model.topic.name for model in cls.emits))


@dataclass(frozen=True)
class Delivery:
    """One notification for this connector's partner, as the router decided it.

    ``bsn`` is set only when the policy permitted the BSN to this recipient; otherwise
    the partner gets ``subject``, the pseudonym.
    """

    notification: NotificationDelivery
    delivery_id: str
    subject: str
    correlation_id: str
    bsn: str | None = None

    @property
    def label_reference(self) -> str:
        """The partner's handle for the client's label (flows B and C)."""
        reference = self.notification.label_reference
        if not reference:
            raise PermanentError(
                "a label delivery arrived without its label reference", field="label_reference"
            )
        return reference


class OutboundConnector(Connector[ConfigT]):
    """A delivery → the partner system."""

    kind: ClassVar[Kind] = "outbound"
    accepts: ClassVar[tuple[type[CanonicalEvent], ...]]
    """The source events whose deliveries this connector can render for its partner."""

    @abstractmethod
    async def deliver(self, delivery: Delivery) -> None:
        """Hand one delivery to the partner, idempotently on ``delivery.delivery_id``.

        Raise ``RetryableError`` for a failure worth retrying (timeout, 503) and
        ``PermanentError`` for one that never will succeed (400, unknown recipient).

        Example::

            async def deliver(self, delivery: Delivery) -> None:
                response = await self.api().call("POST", "meldingen", json=...,
                    headers={"Idempotency-Key": delivery.delivery_id})
                if response.status_code >= 500:
                    raise RetryableError(f"partner answered {response.status_code}")
                if response.status_code >= 400:
                    raise PermanentError(f"partner refused: {response.status_code}")
        """

    @classmethod
    def topics(cls) -> tuple[str, ...]:
        kind = cls.partner.split(":", 1)[0]
        return (delivery_topic(kind).name,)


class LookupConnector(Connector[ConfigT]):
    """Request/response enrichment, as the KEDO case look-up."""

    kind: ClassVar[Kind] = "lookup"
    answers: ClassVar[type[CanonicalEvent]] = KedoLookupResult

    @abstractmethod
    async def lookup(self, bsn: str) -> KedoLookupResult:
        """The current case of the person with ``bsn``; ``found=False`` when there is none.

        Raise ``RetryableError`` for a timeout or a 503; the runtime retries within its
        budget.
        """
