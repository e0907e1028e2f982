"""For connectors whose partner speaks the reference JSON contracts of DESIGN §5: a
versioned JSON object body, and professionals' contacts written the Dutch way."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from hub.core.errors import ContractError
from hub.core.json_limits import read_json
from hub.schemas.common import Contact

VERSION_FIELD = "schemaVersie"


def read_object(body: bytes, versions: tuple[str, ...]) -> dict[str, Any]:
    """The body as a JSON object of a known ``schemaVersie``, read within the hub's JSON
    limits; ContractError otherwise."""
    data = read_json(body)
    if not isinstance(data, dict):
        raise ContractError("the body must be a JSON object", field="body")
    version = str(data.get(VERSION_FIELD, ""))
    if version not in versions:
        raise ContractError(
            f"unknown schema version {version!r}; known: {', '.join(versions)}",
            field=VERSION_FIELD,
        )
    return data


class DutchContact(BaseModel):
    """``{"naam", "rol", "organisatie", "partner", "telefoon", "email"}``."""

    model_config = ConfigDict(extra="ignore")
    naam: str
    organisatie: str
    rol: str | None = None
    partner: str | None = None
    telefoon: str | None = None
    email: str | None = None

    def contact(self, role: str | None = None) -> Contact:
        """The canonical contact; ``role`` fills in where the partner gives none."""
        return Contact(
            name=self.naam,
            role=self.rol or role or "onbekend",
            organisation=self.organisatie,
            partner=self.partner,
            phone=self.telefoon,
            email=self.email,
        )
