"""Every setting of the hub, with a safe default for the embedded mode.

Settings come from environment variables with the ``HUB_`` prefix and ``__`` between
nested keys (``HUB_KAFKA__BOOTSTRAP_SERVERS``). A secret may also be read from a file:
``HUB_PSEUDONYM__KEY_FILE`` names a file that holds the key.
"""

from __future__ import annotations

import ipaddress
import json
import re
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from hub.secret_files import SecretFiles

KIND_NAME = re.compile(r"[a-z][a-z0-9-]{1,29}")
"""A partner kind's name: it is part of partner ids and of a delivery topic's name."""


class SecurityProtocol(StrEnum):
    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_SSL = "SASL_SSL"


class SaslMechanism(StrEnum):
    PLAIN = "PLAIN"
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    SCRAM_SHA_512 = "SCRAM-SHA-512"


class KafkaSettings(SecretFiles):
    """How the hub reaches Kafka. The defaults fit the embedded tansu broker."""

    bootstrap_servers: str = Field(
        "127.0.0.1:9092",
        description="Comma-separated host:port list. `hub up` replaces it with the "
        "embedded broker's address.",
    )
    security_protocol: SecurityProtocol = Field(
        SecurityProtocol.PLAINTEXT, description="PLAINTEXT, SSL or SASL_SSL."
    )
    sasl_mechanism: SaslMechanism = Field(
        SaslMechanism.SCRAM_SHA_512, description="SASL mechanism when SASL_SSL is used."
    )
    sasl_username: str | None = Field(None, description="SASL user name.")
    sasl_password: SecretStr | None = Field(None, description="SASL password.")
    ssl_cafile: Path | None = Field(None, description="CA bundle that signs the brokers.")
    ssl_certfile: Path | None = Field(None, description="Client certificate for mTLS.")
    ssl_keyfile: Path | None = Field(None, description="Client key for mTLS.")
    idempotent_producer: bool = Field(
        False,
        description="Use Kafka's idempotent producer. tansu rejects it; switch it on "
        "against Apache Kafka.",
    )
    acks: Literal["all", 1, 0] = Field("all", description="Producer acknowledgements.")
    client_id: str = Field("ketenhub", description="Kafka client id prefix.")
    replication_factor: int = Field(1, ge=1, description="Replication factor for new topics.")
    fetch_max_wait_ms: int = Field(
        500,
        ge=1,
        le=60_000,
        description="Longest a consumer's fetch waits for records. Apache Kafka answers as "
        "soon as a record arrives; tansu waits this out, so the embedded mode sets it low.",
    )
    batch_max_records: int = Field(
        20,
        ge=1,
        le=10_000,
        description="Most records the router and each outbound connector take from one "
        "fetch and handle as one batch (one transaction, one round trip to the broker).",
    )
    batch_wait_ms: int = Field(
        500,
        ge=1,
        le=10_000,
        description="Longest a batch consumer waits for records before it asks again. A "
        "record ends the wait the moment it is fetched, so this adds no latency; it only "
        "sets how often an idle consumer wakes.",
    )
    session_timeout_ms: int = Field(
        6000,
        ge=1000,
        description="Consumer group session timeout. A group join takes about two "
        "thirds of it on tansu.",
    )
    heartbeat_interval_ms: int = Field(1500, ge=100, description="Consumer heartbeat.")
    graceful_timeout_s: float = Field(
        3.0,
        gt=0,
        description="On shutdown, how long a consumer may finish the record in hand; what "
        "is not finished is not committed and comes again after the restart.",
    )

    @model_validator(mode="after")
    def _sasl_needs_credentials(self) -> KafkaSettings:
        if self.security_protocol is SecurityProtocol.SASL_SSL and not (
            self.sasl_username and self.sasl_password
        ):
            raise ValueError("SASL_SSL needs kafka.sasl_username and kafka.sasl_password")
        return self


class EmbeddedSettings(BaseModel):
    """The embedded broker that `hub up` starts."""

    host: str = Field("127.0.0.1", description="Loopback address the broker binds to.")
    port: int = Field(0, ge=0, le=65535, description="Broker port; 0 picks a free port.")
    fetch_max_wait_ms: int = Field(
        100,
        ge=1,
        description="The consumers' fetch wait on the embedded broker, unless "
        "HUB_KAFKA__FETCH_MAX_WAIT_MS says otherwise: tansu answers a fetch only when the "
        "wait ends, so it bounds every hop's latency.",
    )
    startup_timeout_s: float = Field(20.0, gt=0, description="How long to wait for tansu.")


DATABASE_SCHEMES = ("sqlite+aiosqlite:", "postgresql+asyncpg:")
"""The database drivers the hub installs, both async."""


class DatabaseSettings(SecretFiles):
    url: str | None = Field(
        None,
        description="SQLAlchemy async URL. Empty means SQLite in the data directory; "
        "`postgresql+asyncpg://...` works unchanged.",
    )
    password: SecretStr | None = Field(
        None, description="The database password, when the URL leaves it out (or its _FILE)."
    )
    echo: bool = Field(False, description="Log every SQL statement (never in production).")

    @field_validator("url")
    @classmethod
    def _a_driver_the_hub_has(cls, url: str | None) -> str | None:
        """Refused here, naming the setting: a driver the hub does not install (or a
        synchronous one) failed deep inside SQLAlchemy, with a traceback."""
        if url and not url.startswith(DATABASE_SCHEMES):
            scheme = url.partition(":")[0]
            raise ValueError(
                f"{scheme!r} is not a driver the hub has: use "
                f"{' or '.join(s + '//' for s in DATABASE_SCHEMES)}"
            )
        return url


class PseudonymSettings(BaseModel):
    """Keys for the keyed pseudonyms that replace the BSN on the bus."""

    key_id: str = Field(
        "k1", pattern=r"^[a-z0-9]{1,8}$", description="Id of the active key (in pseudonyms)."
    )
    key: SecretStr | None = Field(
        None, description="The active key. Empty in embedded mode: a key file is used."
    )
    key_file: Path | None = Field(
        None,
        description="File holding the active key. Embedded mode creates "
        "`<data_dir>/pseudonym-<key_id>.key` on first start.",
    )
    previous: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Retired keys by id, kept readable during a rotation.",
    )
    key_dir: Path | None = Field(
        None,
        description="Directory of key files `pseudonym-<id>.key` and `pseudonym.active`, "
        "used when no key or key file is set, and rotated live by `hub keys rotate`. "
        "Default: the data directory.",
    )


class CryptoSettings(BaseModel):
    """The master key that wraps every client's data key (sealed payloads on the bus)."""

    key_id: str = Field(
        "m1", pattern=r"^[a-z0-9]{1,8}$", description="Id of the active master key."
    )
    key: SecretStr | None = Field(
        None, description="The active master key, 64 hex. Empty in embedded mode: a key file."
    )
    key_file: Path | None = Field(
        None,
        description="File holding the active master key. Embedded mode creates "
        "`<data_dir>/master-<key_id>.key` on first start.",
    )
    previous: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Retired master keys by id, kept until `hub keys finish` re-wrapped "
        "every data key.",
    )
    key_dir: Path | None = Field(
        None,
        description="Directory of key files `master-<id>.key` and `master.active`, used "
        "when no key or key file is set, and rotated live by `hub keys rotate`. "
        "Default: the data directory.",
    )
    key_cache_s: float = Field(
        5.0,
        gt=0,
        description="How long a process keeps a data key in memory: an erasure reaches "
        "every hub process within this time.",
    )


class HttpSettings(BaseModel):
    host: str = Field("127.0.0.1", description="Address of the hub's HTTP server.")
    port: int = Field(8480, ge=0, le=65535, description="Port of the hub's HTTP server.")
    tls_certfile: Path | None = Field(None, description="Server certificate: serve HTTPS.")
    tls_keyfile: Path | None = Field(None, description="Key of the server certificate.")
    tls_client_ca: Path | None = Field(
        None, description="CA that signs partner client certificates: require mTLS."
    )
    trusted_proxies: tuple[str, ...] = Field(
        (),
        description="Reverse proxies (IP addresses or CIDR ranges) whose X-Forwarded-For "
        "and X-Forwarded-Proto the hub believes: the client address (per-source limits) "
        "and the scheme come from them; in the environment a JSON list, "
        '["10.0.0.5", "10.1.0.0/16"]. None: the headers are ignored.',
    )
    header_timeout_s: float = Field(
        10.0,
        gt=0,
        le=300,
        description="A request's line and headers must arrive within this long after the "
        "connection opens (or after the previous answer on a kept-alive connection), or the "
        "connection is closed.",
    )
    max_connections_per_source: int = Field(
        256,
        ge=1,
        description="Connections one client address (an IPv6 client: its /64) may hold open "
        "at once; more are closed at once. A trusted proxy's connections are not counted.",
    )
    body_timeout_s: float = Field(
        10.0,
        gt=0,
        le=300,
        description="A request's whole body must arrive within this long after its "
        "headers, or it is answered 408 and its connection closed.",
    )
    max_header_bytes: int = Field(
        16384,
        ge=1024,
        le=1_048_576,
        description="Largest request line and headers taken; a larger request is answered "
        "431 (400 while its headers are still coming in) and its connection closed.",
    )
    max_body_bytes: int = Field(
        65536,
        ge=1024,
        le=16_777_216,
        description="Largest request body taken outside the webhooks (the console, the "
        "management API), before anyone is signed in too; a larger one is answered 413. A "
        "webhook takes up to its connector's max_body_bytes.",
    )
    webhook_source_rate_per_s: float = Field(
        100.0,
        gt=0,
        description="Webhook requests a second, on average, from one client address (an "
        "IPv6 client: its /64) before the signature is checked.",
    )
    webhook_source_burst: int = Field(
        200, ge=1, description="Webhook requests at once above that rate from one address."
    )
    webhook_source_max_in_flight: int = Field(
        16,
        ge=1,
        description="Unauthenticated webhook requests in progress from one client address.",
    )
    webhook_max_unauthenticated: int = Field(
        256,
        ge=1,
        description="Unauthenticated webhook requests in progress from all addresses "
        "together (each may hold up to its connector's max_body_bytes).",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for proxy in value:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(f"{proxy!r} is not an IP address or CIDR range") from None
        return value

    @model_validator(mode="after")
    def _tls_is_whole(self) -> HttpSettings:
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise ValueError("tls_certfile and tls_keyfile go together")
        if self.tls_client_ca is not None and self.tls_certfile is None:
            raise ValueError("mutual TLS (tls_client_ca) needs tls_certfile and tls_keyfile")
        return self


class LogSettings(BaseModel):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")
    format: Literal["auto", "json", "console"] = Field(
        "auto", description="auto: console output on a terminal, JSON otherwise."
    )


class PolicySettings(BaseModel):
    file: Path | None = Field(
        None, description="Cedar policy that replaces the default one (its version is logged)."
    )
    schema_file: Path | None = Field(
        None, description="Cedar schema for a replacement policy; the default schema otherwise."
    )


QUALIFIER_FORM = re.compile(
    r"(?P<prefix>[A-Za-z0-9._-]*)\[(?P<members>[^\[\]\\]+)\]\{(?P<least>\d+)(?:,(?P<most>\d+))?\}"
)
"""The qualifiers a configured kind may have: a literal prefix and one character class
with a length; it can be matched in linear time."""
QUALIFIER_MAX = 50
"""The longest qualifier: with its kind (2 to 30) and the colon, a partner id fits the
state store's 60 characters only when both are short; ids are checked against 60 too."""
_PROBE = [chr(c) for c in range(32, 127) if not (chr(c).isalnum() or chr(c) in "._-")] + [
    "\u00e9",
    "\u202e",
    "\u0660",
]


class PartnerKindSettings(BaseModel):
    """A kind of partner beyond the nine the hub ships with (``hub.schemas.partners``)."""

    model_config = ConfigDict(extra="forbid")
    qualifier: str | None = Field(
        None,
        max_length=200,
        description="What the part after the colon is (ids like ggz:<qualifier>): an "
        "optional literal prefix and one character class with a length, as a regular "
        "expression: [a-z0-9-]{1,40}, GM[0-9]{4}. None: the kind is one partner, its id "
        "the kind's name.",
    )
    role: str | None = Field(
        None,
        description="The team role its partners receive as where no team registration "
        "names one (as a conflict-of-duties decision's recipient); none: only the team "
        "registration gives it one.",
    )

    @field_validator("qualifier")
    @classmethod
    def _simple(cls, qualifier: str | None) -> str | None:
        """Only a prefix and one bounded character class: a partner's message is matched
        against it, and a regular expression of groups and repeats can take exponential
        time on a crafted id (a hub at 100 % CPU for one inclusion)."""
        if qualifier is None:
            return None
        form = QUALIFIER_FORM.fullmatch(qualifier)
        if form is None:
            raise ValueError(
                "a qualifier is an optional literal prefix and one character class with a "
                "length, like [a-z0-9-]{1,40} or GM[0-9]{4}"
            )
        try:
            compiled = re.compile(qualifier)
        except re.error as error:
            raise ValueError(f"not a regular expression: {error}") from None
        longest = len(form["prefix"]) + int(form["most"] or form["least"])
        if int(form["least"]) < 1 or int(form["most"] or form["least"]) < int(form["least"]):
            raise ValueError("the character class's length must be at least 1, as {1,40}")
        if longest > QUALIFIER_MAX:
            raise ValueError(f"its longest qualifier ({longest}) exceeds {QUALIFIER_MAX}")
        stray = [c for c in _PROBE if compiled.fullmatch(form["prefix"] + c * int(form["least"]))]
        if stray:
            raise ValueError(
                f"its class allows {stray[0]!r}: a qualifier holds letters, digits, '.', "
                "'_' and '-' only"
            )
        return qualifier


class PartnerSettings(BaseModel):
    kinds: dict[str, PartnerKindSettings] = Field(
        default_factory=dict,
        description="Partner kinds beyond the nine built in, by name (lower case, digits, "
        'dashes), as JSON: {"ggz": {"qualifier": "[a-z0-9-]{1,40}", "role": '
        '"zorgaanbieder"}}. Each gets its delivery topic; its partners can be team '
        "members, senders and recipients, and receive what the sharing rules give their role.",
    )

    @field_validator("kinds")
    @classmethod
    def _names(cls, kinds: dict[str, PartnerKindSettings]) -> dict[str, PartnerKindSettings]:
        for name in kinds:
            if not KIND_NAME.fullmatch(name):
                raise ValueError(
                    f"partner kind {name!r}: lower case letters, digits and dashes, 2 to 30"
                )
        return kinds


class RoutingSettings(BaseModel):
    bsn_authorised: tuple[str, ...] = Field(
        ("crisis", "dji", "gemeente", "kedo", "llz", "pi", "zvh"),
        description="Partner kinds that may hold the BSN; the others receive the pseudonym. "
        "The whole list: setting it replaces these, so name the ones you keep.",
    )
    retry_interval_s: float = Field(
        1.0,
        gt=0,
        description="How often the router looks for held-back events (case look-up down) "
        "that are due; while none is, the pause doubles up to 2 s.",
    )
    label_incomplete_after_s: float = Field(
        300.0,
        gt=0,
        description="A label set or withdrawal not acknowledged after this long is listed "
        "as incomplete by `hub labels status`.",
    )
    label_resend_interval_s: float = Field(
        30.0,
        gt=0,
        description="How often a label delivery that failed is offered again to its "
        "partner, once the partner's health check passes.",
    )
    erasure_interval_s: float = Field(
        3600.0,
        ge=1,
        description="How often the router's process runs the retention clocks (erasure "
        "six months after release, closed cases, people in no case); `hub erasure run` "
        "runs them at once.",
    )
    retention_after_closure_days: int = Field(
        1826,
        ge=1,
        description="How long the hub keeps a closed case (the client excluded) before it "
        "erases the client's state and shreds their keys: five years, as the audit trail.",
    )
    no_case_retention_days: int = Field(
        7,
        ge=1,
        le=366,
        description="How long after the last event about a person in no case (the router "
        "decided NO_CASE: never included, no detention kept, no label) the hub erases their "
        "BSN link, state and data keys. Nothing entitles the hub to keep them; the week "
        "lets a ZVH include someone it is still deciding about. Waiting work postpones it.",
    )
    processed_claim_retention_days: int = Field(
        120,
        ge=91,
        description="How long the hub remembers that a consumer handled an event (its id, "
        "to ignore a redelivery): longer than the longest topic retention (90 days), so no "
        "record Kafka can still hand out is taken twice.",
    )
    receipt_retention_days: int = Field(
        90,
        ge=1,
        description="How long a delivery receipt (delivery and correlation id, partner, "
        "outcome; never content) stays for the console's flow trace.",
    )
    erased_key_retention_days: int = Field(
        30,
        ge=1,
        description="How long the row of a shredded data key (no secret: its pseudonym, "
        "when and why) stays after the erasure; the audit trail keeps that it happened.",
    )
    settled_dead_letter_retention_days: int = Field(
        30,
        ge=1,
        description="How long a dead letter an operator replayed or discarded (or a later "
        "re-send resolved) is kept whole after that; an open one stays until it is settled.",
    )


class PlausibilitySettings(BaseModel):
    """How far ahead of the hub's clock a partner may date a fact (a detention's start,
    a birth date, a signal) before the message is refused (``hub.schemas.plausibility``)."""

    days_ahead: int = Field(
        1,
        ge=0,
        le=31,
        description="A fact's date may lie this many days after today in `timezone`: 1 "
        "takes tomorrow (a message written just before midnight, a partner whose day "
        "turned first) and refuses the day after.",
    )
    minutes_ahead: float = Field(
        15.0,
        ge=0,
        le=24 * 60,
        description="A fact's moment may lie this many minutes after the hub's clock: the "
        "skew of a partner's clock, three times the webhook signature's default window, "
        "far below a typing error of an hour or a day.",
    )
    timezone: str = Field(
        "Europe/Amsterdam",
        description="Where today is for a date, and the zone of a moment sent without "
        "one: the partners' own.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class OpsSettings(BaseModel):
    shutdown_timeout_s: float = Field(
        8.0,
        gt=0,
        le=60,
        description="On SIGTERM, the longest the hub takes to stop; work not finished by "
        "then is abandoned uncommitted and redone after the restart.",
    )
    metrics_interval_s: float = Field(
        15.0,
        gt=0,
        description="How often the state gauges on /metrics (consumer lag, dead-letter "
        "depth, incomplete labels, connector health) are refreshed.",
    )


class ConsoleSettings(SecretFiles):
    session_secret: SecretStr | None = Field(
        None,
        description="Key that signs the short-lived OIDC login state cookie; without one a "
        "new key is made at every start (a login under way then starts again). Give every "
        "hub process the same key.",
    )
    session_max_age_s: int = Field(
        8 * 3600, gt=0, description="How long a login lasts at most (absolute expiry)."
    )
    session_idle_s: int = Field(
        30 * 60, gt=0, description="A login unused this long ends (idle expiry)."
    )
    secure_cookie: bool = Field(
        True,
        description="Mark the session cookie Secure (sent over https only; browsers also "
        "keep it for http://127.0.0.1 and localhost). Turn off only for a console served "
        "over plain http on another address, on a trusted network.",
    )
    login_max_failures: int = Field(
        5, ge=1, description="Failed logins on one account, within the window, that lock it."
    )
    login_source_max_failures: int = Field(
        20,
        ge=1,
        description="Failed logins from one source address, within the window, that lock "
        "that address out (it bounds how many accounts one address can lock).",
    )
    login_window_s: int = Field(15 * 60, gt=0, description="Window that counts failures.")
    lockout_s: int = Field(
        15 * 60, gt=0, description="How long a locked account or source address waits."
    )
    max_concurrent_hashes: int = Field(
        2,
        ge=1,
        le=64,
        description="Password checks (argon2) running at once, in worker threads; more "
        "logins wait, and beyond eight per slot they get a 429.",
    )
    oidc_issuer: HttpUrl | None = Field(
        None,
        description="OpenID Connect issuer of the organisation's identity provider: the "
        "console then offers its login (authorization code with PKCE).",
    )
    oidc_client_id: str | None = Field(None, description="The console's client id there.")
    oidc_client_secret: SecretStr | None = Field(
        None, description="The console's client secret there (a public client has none)."
    )
    oidc_redirect_uri: HttpUrl | None = Field(
        None,
        description="Where the provider sends the browser back: "
        "https://<console host>/console/oidc/callback.",
    )
    oidc_role_claim: str = Field(
        "ketenhub_role",
        description="ID token claim (a string or a list) that names the console role; "
        "without it, or with no known role in it, no access.",
    )
    oidc_partner_claim: str = Field(
        "ketenhub_partner", description="ID token claim naming a partner account's partner."
    )
    oidc_roles: dict[str, Literal["operator", "privacy-officer", "partner"]] = Field(
        default_factory=dict,
        description="Role-claim values (e.g. group names) mapped to console roles, as "
        "JSON; empty: the claim holds the role's own name.",
    )
    oidc_scopes: str = Field("openid profile", description="Scopes the console asks for.")

    @model_validator(mode="after")
    def _oidc_is_whole(self) -> ConsoleSettings:
        if self.oidc_issuer is not None and (
            self.oidc_client_id is None or self.oidc_redirect_uri is None
        ):
            raise ValueError("oidc_issuer needs oidc_client_id and oidc_redirect_uri")
        return self


class TracingSettings(BaseModel):
    otlp_endpoint: HttpUrl | None = Field(
        None,
        description="OTLP/HTTP traces endpoint (e.g. http://collector:4318/v1/traces); "
        "without one, trace ids still appear in the logs.",
    )
    service_name: str = Field("ketenhub", description="The service name on every span.")


def _dashed(connectors: dict[str, Any]) -> dict[str, Any]:
    """Connector settings by the connector's name. A shell cannot export
    ``HUB_CONNECTORS__POLITIE-SIGNALEN__...``, and a connector's name has dashes and never
    underscores, so ``POLITIE_SIGNALEN`` names ``politie-signalen``; where both are given
    their settings merge, the dashed name's winning."""
    merged: dict[str, Any] = {}
    for name in sorted(connectors, key=lambda n: "_" not in n):  # underscored ones first
        dashed, given = name.replace("_", "-"), connectors[name]
        earlier = merged.get(dashed)
        if isinstance(earlier, dict) and isinstance(given, dict):
            given = {**earlier, **given}
        merged[dashed] = given
    return merged


class HubSettings(BaseSettings):
    """The root of the configuration tree."""

    model_config = SettingsConfigDict(
        env_prefix="HUB_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    data_dir: Path = Field(Path(".hub-data"), description="Where embedded state lives.")
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    embedded: EmbeddedSettings = Field(default_factory=EmbeddedSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    pseudonym: PseudonymSettings = Field(default_factory=PseudonymSettings)
    crypto: CryptoSettings = Field(default_factory=CryptoSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    policy: PolicySettings = Field(default_factory=PolicySettings)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    partners: PartnerSettings = Field(default_factory=PartnerSettings)
    plausibility: PlausibilitySettings = Field(default_factory=PlausibilitySettings)
    ops: OpsSettings = Field(default_factory=OpsSettings)
    tracing: TracingSettings = Field(default_factory=TracingSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    connectors: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Connectors to run, by name, each with its own settings "
        "(HUB_CONNECTORS__<NAME>__<KEY>, or HUB_CONNECTORS as JSON).",
    )
    connectors_file: Path | None = Field(
        None,
        description="A JSON file of connector settings (a mounted secret: it holds the "
        "webhook secrets), merged under HUB_CONNECTORS.",
    )

    @model_validator(mode="after")
    def _connectors_from_file(self) -> HubSettings:
        self.connectors = _dashed(self.connectors)
        if self.connectors_file is None:
            return self
        try:
            loaded = json.loads(self.connectors_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ValueError(f"connectors_file {self.connectors_file}: {error}") from None
        if not isinstance(loaded, dict):
            raise ValueError("connectors_file must hold a JSON object: connector → settings")
        loaded = _dashed(loaded)
        merged = {name: {**loaded.get(name, {}), **conf} for name, conf in self.connectors.items()}
        self.connectors = {**loaded, **merged}
        return self

    @property
    def database_url(self) -> str:
        if self.database.url:
            if self.database.password is None:
                return self.database.url
            # Imported here: every command reads the settings, and SQLAlchemy takes a
            # tenth of a second to import, which a command without a database never needs.
            from sqlalchemy.engine import make_url

            url = make_url(self.database.url).set(
                password=self.database.password.get_secret_value()
            )
            return url.render_as_string(hide_password=False)
        return f"sqlite+aiosqlite:///{(self.data_dir / 'hub.db').resolve()}"
