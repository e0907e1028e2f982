"""Data categories: the unit the sharing policy reasons about.

Each payload field declares exactly one category through :func:`categorised`. The
category is stored in the field's JSON Schema (``x-data-category``), so the router,
the exported schemas and a reviewer all read the same declaration.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field
from pydantic.fields import FieldInfo

CATEGORY_KEY = "x-data-category"
RELEVANT_ROLES_KEY = "x-relevant-roles"


class DataCategory(StrEnum):
    IDENTITY = "identity"
    """BSN, name, date of birth and other identifiers of the person."""
    JUSTICE = "justice"
    """Detention facts, place, legal titles, police and probation signals."""
    LABEL = "label"
    """The fact of inclusion in the Levensloopaanpak and routing facts."""
    MEDICAL = "medical"
    """Diagnoses, treatment, medication, risk assessments, crisis plans, consents."""
    CONTACT = "contact"
    """Professional contact details."""


def categorised(
    category: DataCategory,
    *,
    description: str,
    relevant_roles: tuple[str, ...] | None = None,
    **kwargs: Any,
) -> Any:
    """A pydantic ``Field`` that carries its data category.

    ``relevant_roles`` narrows a medical field to the team roles it is directly relevant
    to; the policy withholds it from every other role, whatever the legal basis.

    Example::

        facility: Facility = categorised(DataCategory.JUSTICE, description="The prison.")
    """
    extra: dict[str, Any] = {CATEGORY_KEY: category.value}
    if relevant_roles is not None:
        extra[RELEVANT_ROLES_KEY] = list(relevant_roles)
    return Field(description=description, json_schema_extra=extra, **kwargs)


def category_of(info: FieldInfo) -> DataCategory | None:
    extra = info.json_schema_extra
    if isinstance(extra, dict) and isinstance(extra.get(CATEGORY_KEY), str):
        return DataCategory(str(extra[CATEGORY_KEY]))
    return None


def relevant_roles_of(info: FieldInfo) -> tuple[str, ...] | None:
    """The roles a field is relevant to, or None when it is relevant to every role."""
    extra = info.json_schema_extra
    roles = extra.get(RELEVANT_ROLES_KEY) if isinstance(extra, dict) else None
    return tuple(str(r) for r in roles) if isinstance(roles, list) else None
