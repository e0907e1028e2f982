"""Value objects that several events share."""

from __future__ import annotations

from pydantic import Field

from hub.schemas.base import Payload
from hub.schemas.partners import PartnerId


class Facility(Payload):
    """A penitentiary institution (PI) as Injus names it."""

    code: str = Field(min_length=1, max_length=20, description="DJI code of the PI.")
    name: str = Field(min_length=1, max_length=200, description="Name of the PI.")


class Contact(Payload):
    """A professional's contact details; never the client's."""

    name: str = Field(min_length=1, max_length=200)
    role: str = Field(min_length=1, max_length=100)
    organisation: str = Field(min_length=1, max_length=200)
    partner: PartnerId | None = Field(None, description="The partner the professional works for.")
    phone: str | None = Field(None, max_length=40)
    email: str | None = Field(None, max_length=200)
