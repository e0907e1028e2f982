"""The hub's one error tree. Every error the hub raises on purpose is one of these::

    HubError
    ├── ConfigurationError   settings or connector config are wrong; the hub refuses to start
    │   └── SchemaNotCurrent the database is not at the migrations' head: `hub db upgrade`
    ├── ContractError        input breaks a contract (names the field); a 4xx problem+json at
    │   │                    an HTTP edge, a dead letter on the bus; never retried
    │   └── PayloadTooLarge  the body exceeds the connector's limit (413)
    ├── AuthenticationError  a webhook's signature or timestamp does not hold (401)
    │   └── ReplayedRequest  a signed request seen before, sent again (409)
    ├── TooManyRequests      a partner above its rate or concurrency limit (429, Retry-After)
    ├── Forbidden            signed in, but this role may not see it (403)
    ├── NotFound             no such resource at an HTTP edge (404)
    ├── RetryableError       a transient failure (timeout, 503); retried with backoff
    ├── PermanentError       will never succeed as sent; dead-lettered with its reason
    └── PolicyDenial         the sharing policy said no; recorded in the audit, not a failure

Each error renders as RFC 9457 ``application/problem+json`` through :meth:`HubError.problem`.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from aiokafka.errors import KafkaError
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

ModelT = TypeVar("ModelT", bound=BaseModel)
PROBLEM_BASE = "https://ketenhub.nl/problems/"


class HubError(Exception):
    """Base of the tree. ``field`` names the offending input field where there is one."""

    slug: ClassVar[str] = "hub-error"
    title: ClassVar[str] = "Hub error"
    status: ClassVar[int] = 500

    def __init__(self, message: str, *, field: str | None = None, detail: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.detail = detail

    def __str__(self) -> str:
        where = f" (field: {self.field})" if self.field else ""
        more = f"; {self.detail}" if self.detail else ""
        return f"{self.message}{where}{more}"

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": str(self),
        }
        if self.field:
            body["field"] = self.field
        if instance:
            body["instance"] = instance
        return body


class ConfigurationError(HubError):
    slug = "configuration"
    title = "Configuration error"


class SchemaNotCurrent(ConfigurationError):
    """Only ``hub db upgrade`` changes the schema, so the other commands refuse a database
    whose revision is not the one their code was written for."""

    slug = "schema-not-current"
    title = "The database schema is not the one this hub expects"


class ContractError(HubError):
    slug = "contract-violation"
    title = "The message breaks its contract"
    status = 422

    @classmethod
    def from_validation(cls, exc: ValidationError, prefix: str = "") -> ContractError:
        """The first pydantic error, with its dotted field path, as a ContractError."""
        first = exc.errors(include_url=False, include_input=False)[0]
        path = ".".join(str(p) for p in first["loc"])
        field = ".".join(p for p in (prefix, path) if p) or None
        others = exc.error_count() - 1
        detail = f"{others} more error(s)" if others else None
        return cls(first["msg"], field=field, detail=detail)

    @classmethod
    def validate(cls, model: type[ModelT], data: Any, prefix: str = "") -> ModelT:
        """``model.model_validate(data)``, raising ContractError instead of ValidationError."""
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise cls.from_validation(exc, prefix) from None


class PayloadTooLarge(ContractError):
    slug = "payload-too-large"
    title = "The message is larger than accepted here"
    status = 413


class AuthenticationError(HubError):
    slug = "unauthenticated"
    title = "The sender could not be authenticated"
    status = 401


class BearerRequired(AuthenticationError):
    """No valid bearer token: answered with ``WWW-Authenticate: Bearer``, so a client
    knows what to send (RFC 6750)."""

    challenge: ClassVar[str] = "Bearer"


class ReplayedRequest(AuthenticationError):
    slug = "replayed-request"
    title = "This signed request was received before"
    status = 409


class RequestTimeout(HubError):
    """The client did not send its whole body in time: the connection is closed and the
    request may be sent again."""

    slug = "request-timeout"
    title = "The request body did not arrive in time"
    status = 408


class NotHttp(HubError):
    """The bytes received are not an HTTP request the server can parse: answered before
    any application sees them, and the connection closed."""

    slug = "not-http"
    title = "The request is not valid HTTP"
    status = 400


class InternalError(HubError):
    """A fault inside the hub, not in the request: the answer names no cause (the log
    has it, under the request's path), and the request may be sent again later."""

    slug = "internal-error"
    title = "The hub could not answer this request"
    status = 500


class HeadersTooLarge(HubError):
    """The request line and headers are larger than the server takes: the connection is
    closed."""

    slug = "headers-too-large"
    title = "The request headers are too large"
    status = 431


class TooManyRequests(HubError):
    """A sender (an address before authentication, a partner after it) sends faster than
    its rate limit, or more at once than its concurrency limit: it should wait
    ``retry_after_s`` and send again (the message is not taken)."""

    slug = "too-many-requests"
    title = "Too many requests"
    status = 429

    def __init__(self, message: str, *, retry_after_s: float = 1.0, field: str | None = None):
        super().__init__(message, field=field)
        self.retry_after_s = retry_after_s


class Forbidden(HubError):
    slug = "forbidden"
    title = "This role may not see this"
    status = 403


class NotFound(HubError):
    slug = "not-found"
    title = "Not found"
    status = 404


class Conflict(HubError):
    """The request is understood but does not fit what it names (pausing a connector
    that only receives)."""

    slug = "conflict"
    title = "The request does not fit the resource's state"
    status = 409


class RetryableError(HubError):
    slug = "retryable"
    title = "Temporary failure, will be retried"
    status = 503


class PermanentError(HubError):
    slug = "permanent"
    title = "Permanent failure"
    status = 502


class PolicyDenial(HubError):
    slug = "policy-denial"
    title = "The sharing policy does not permit this"
    status = 403


def is_outage(exc: BaseException) -> bool:
    """A failure of the infrastructure (the state store busy or away, the bus away), not
    of the message: retried for as long as it lasts, never dead-lettered, and answered
    at an edge with 503 so that the partner sends again."""
    return isinstance(
        exc, OperationalError | PoolTimeout | KafkaError | ConnectionError | TimeoutError
    )
