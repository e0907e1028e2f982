"""The base of every canonical event payload."""

from __future__ import annotations

from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict

from hub.core.topics import TopicSpec
from hub.schemas.categories import DataCategory, category_of, relevant_roles_of, roles_problem

EVENT_TYPE_PREFIX = "nl.ketenhub"


class Payload(BaseModel):
    """A value object inside an event; its category is the category of the field holding it.
    Strict: policy inputs and consents are built of these, and a field they do not know
    must never count (fail closed)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class CanonicalEvent(BaseModel):
    """A payload on the bus. Subclasses set ``name``, ``version`` and ``topic``.

    Defining a subclass with a field that has no data category, or a medical field that
    names no relevant roles, fails at import time, so the router never meets a field it
    cannot classify.
    """

    model_config = ConfigDict(frozen=True, extra="allow")
    """Tolerant at the top: a reader takes fields it does not know and keeps them
    (``model_extra``), so a record goes on as it came when it is forwarded. Within a
    major version a newer hub may add optional fields (``hub schemas check``) while
    older ones still read the bus during a rolling upgrade. The policy decides only
    declared fields, so an unknown one is never disclosed; the edge refuses a connector
    that emits one."""

    name: ClassVar[str]
    version: ClassVar[int] = 1
    topic: ClassVar[TopicSpec]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            return
        missing = [f for f, info in cls.model_fields.items() if category_of(info) is None]
        if missing:
            raise TypeError(f"{cls.__name__}: fields without a data category: {missing}")
        for name, info in cls.model_fields.items():
            category = category_of(info)
            problem = category and roles_problem(category, relevant_roles_of(info))
            if problem:
                raise TypeError(f"{cls.__name__}.{name}: {problem}")

    def for_subject(self, *, subject: str, bsn: str | None) -> Self:
        """The event bound to the client the partner's message names, once the edge knows
        its pseudonym; an event that names its client again inside (a Consent's patient)
        checks that it is the same client. Most events name none, and are unchanged."""
        return self

    def record_topic(self) -> TopicSpec:
        """The topic this instance goes to; one per event class unless a subclass says not."""
        return self.topic

    @classmethod
    def event_type(cls) -> str:
        """The CloudEvents ``type``: ``nl.ketenhub.<name>.v<version>``."""
        return f"{EVENT_TYPE_PREFIX}.{cls.name}.v{cls.version}"

    @classmethod
    def dataschema(cls) -> str:
        return f"urn:ketenhub:schema:{cls.name}:v{cls.version}"

    @classmethod
    def field_categories(cls) -> dict[str, DataCategory]:
        """Field name → data category, read from the declarations."""
        result: dict[str, DataCategory] = {}
        for field, info in cls.model_fields.items():
            category = category_of(info)
            if category is not None:
                result[field] = category
        return result

    def categories_present(self) -> frozenset[DataCategory]:
        """The categories of the fields that carry a value in this instance."""
        return frozenset(
            category
            for field, category in self.field_categories().items()
            if getattr(self, field) is not None
        )
