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

from hub.schemas.roles import TeamRole

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

    A medical field must name the team roles it is directly relevant to
    (``relevant_roles``): the policy withholds it from every other role, whatever the
    legal basis, so a medical field without them cannot be declared.

    Example::

        facility: Facility = categorised(DataCategory.JUSTICE, description="The prison.")
    """
    problem = roles_problem(category, relevant_roles)
    if problem:
        raise TypeError(problem)
    extra: dict[str, Any] = {CATEGORY_KEY: category.value}
    if relevant_roles is not None:
        extra[RELEVANT_ROLES_KEY] = [str(r) for r in relevant_roles]
    return Field(description=description, json_schema_extra=extra, **kwargs)


def roles_problem(category: DataCategory, roles: tuple[str, ...] | None) -> str | None:
    """Why ``roles`` cannot go with a field of ``category``, or None when they can."""
    if category is DataCategory.MEDICAL and not roles:
        return "a medical field names the roles it is directly relevant to (relevant_roles)"
    unknown = [r for r in roles or () if r not in {t.value for t in TeamRole}]
    if unknown:
        return f"{unknown[0]!r} is not a team role; known: {', '.join(TeamRole)}"
    return None


def category_of(info: FieldInfo) -> DataCategory | None:
    extra = info.json_schema_extra
    if isinstance(extra, dict) and isinstance(extra.get(CATEGORY_KEY), str):
        return DataCategory(str(extra[CATEGORY_KEY]))
    return None


def relevant_roles_of(info: FieldInfo) -> tuple[str, ...] | None:
    """The roles a field is directly relevant to, as declared (medical fields must)."""
    extra = info.json_schema_extra
    roles = extra.get(RELEVANT_ROLES_KEY) if isinstance(extra, dict) else None
    return tuple(str(r) for r in roles) if isinstance(roles, list) else None
