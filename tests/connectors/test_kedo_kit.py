"""The KEDO look-up connector passes the kit, and maps KEDO's answers and failures."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import pytest

from hub.connectors import (
    ContractError,
    PartnerRequest,
    PartnerResponse,
    PermanentError,
    RetryableError,
)
from hub.connectors.kedo import KedoRegie
from hub.connectors.testing import LookupConnectorSuite, LookupScenario, MockTransport
from hub.schemas.case import KedoLookupResult

ANSWER: dict[str, Any] = {
    "zvh": "zvh:amsterdam",
    "casusType": "levensloopaanpak",
    "levensloopaanpak": {"geincludeerd": True, "sinds": "2026-03-01"},
    "llc": {"naam": "L. Coördinator", "organisatie": "Fivoor", "partner": "llz:fivoor"},
    "casusregisseur": {
        "naam": "C. Regisseur",
        "organisatie": "Gemeente Amsterdam",
        "partner": "gemeente:GM0363",
        "telefoon": "020-0000000",
    },
}


class TestKedoRegie(LookupConnectorSuite):
    connector = KedoRegie
    config: ClassVar[dict[str, Any]] = {
        "base_url": "https://kedo.example/api",
        "api_key": "kedo-kit-key-789",
    }
    partner_reply: ClassVar[dict[str, Any]] = ANSWER
    scenarios: ClassVar[list[LookupScenario]] = [LookupScenario("an included client")]


def _ask(status: int, body: Any = None, *, raises: Exception | None = None) -> KedoLookupResult:
    seen: list[PartnerRequest] = []

    def answer(request: PartnerRequest) -> PartnerResponse:
        seen.append(request)
        if raises is not None:
            raise raises
        return PartnerResponse(status, json=body)

    connector = KedoRegie.from_config(TestKedoRegie.config)
    connector.transport = MockTransport(answer)
    result = asyncio.run(connector.lookup("123456782"))
    assert seen[0].path == "/api/regie/123456782"
    assert seen[0].headers["authorization"] == "Bearer kedo-kit-key-789"
    return result


def test_an_included_client_comes_back_with_both_contacts() -> None:
    result = _ask(200, ANSWER)
    assert result.found
    assert result.included
    assert result.zvh == "zvh:amsterdam"
    assert result.llc is not None
    assert result.llc.partner == "llz:fivoor"
    assert result.casusregisseur is not None
    assert result.casusregisseur.role == "casusregisseur"


def test_404_means_no_case() -> None:
    result = _ask(404)
    assert not result.found
    assert result.zvh is None


@pytest.mark.parametrize("status", [503, 500, 429, 408])
def test_transient_answers_are_retryable(status: int) -> None:
    with pytest.raises(RetryableError):
        _ask(status)


def test_a_timeout_is_retryable() -> None:
    with pytest.raises(RetryableError, match="in time"):
        _ask(0, raises=TimeoutError())


def test_a_refusal_is_permanent_and_a_bad_answer_names_the_field() -> None:
    with pytest.raises(PermanentError):
        _ask(403)
    with pytest.raises(ContractError) as info:
        _ask(200, {"casusType": "x"})
    assert info.value.field == "zvh"


def test_an_answer_nested_100k_deep_is_a_contract_error_not_a_recursion_error() -> None:
    """KEDO's answer is partner JSON too: today's ``response.json()`` raises
    RecursionError, which no caller of a look-up expects."""

    def answer(request: PartnerRequest) -> PartnerResponse:
        return PartnerResponse(200, content=b"[" * 100_000 + b"]" * 100_000)

    connector = KedoRegie.from_config(TestKedoRegie.config)
    connector.transport = MockTransport(answer)
    with pytest.raises(ContractError) as info:
        asyncio.run(connector.lookup("123456782"))
    assert "nested deeper than 64 levels" in info.value.message
