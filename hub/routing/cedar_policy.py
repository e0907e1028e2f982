"""The sharing policy as Cedar, evaluated through cedarpy.

The policy and schema are files a lawyer can review (``hub/routing/policy/``); other
files can be passed to the constructor. The policy version is a hash of both texts and
is recorded with every decision. Results are cached per (category, conditions): there
are at most 5 * 2^13 distinct questions, so after warm-up a decision costs a dict look-up.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import cedarpy

from hub.core.errors import ConfigurationError
from hub.routing.conditions import Conditions, RuleResult
from hub.schemas.categories import DataCategory
from hub.settings import PolicySettings

POLICY_DIR = Path(__file__).parent / "policy"
DEFAULT_POLICY = POLICY_DIR / "ketenhub.cedar"
DEFAULT_SCHEMA = POLICY_DIR / "ketenhub.cedarschema"


class CedarPolicy:
    def __init__(self, policy_path: Path = DEFAULT_POLICY, schema_path: Path = DEFAULT_SCHEMA):
        try:
            self.policy_text = policy_path.read_text(encoding="utf-8")
            self.schema_text = schema_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(f"cannot read the sharing policy: {exc}") from None
        result = cedarpy.validate_policies(self.policy_text, self.schema_text)
        if not result.validation_passed:
            errors = "; ".join(str(e) for e in result.errors)
            raise ConfigurationError("the sharing policy does not validate", detail=errors)
        self._policies = cedarpy.PolicySet.from_str(self.policy_text)
        self._schema = cedarpy.Schema.from_str(self.schema_text)
        self._entities = cedarpy.Entities.from_json_str("[]")
        self._cache: dict[tuple[DataCategory, Conditions], RuleResult] = {}

    @cached_property
    def version(self) -> str:
        digest = hashlib.sha256(self.policy_text.encode() + b"\0" + self.schema_text.encode())
        return f"sha256:{digest.hexdigest()[:16]}"

    def evaluate(self, category: DataCategory, conditions: Conditions) -> RuleResult:
        key = (category, conditions)
        cached = self._cache.get(key)
        if cached is None:
            cached = self.evaluate_batch([key])[0]
            self._cache[key] = cached
        return cached

    def evaluate_batch(
        self, questions: Sequence[tuple[DataCategory, Conditions]]
    ) -> list[RuleResult]:
        """Ask Cedar directly, without the cache (the exhaustive test uses this)."""
        requests = [
            {
                "principal": {"type": "Recipient", "id": "recipient"},
                "action": {"type": "Action", "id": "disclose"},
                "resource": {"type": "Category", "id": category.value},
                "context": conditions.as_context(),
            }
            for category, conditions in questions
        ]
        results = cedarpy.is_authorized_batch(
            requests, self._policies, self._entities, schema=self._schema
        )
        out = []
        for result in results:
            if result.diagnostics.errors:
                raise ConfigurationError(
                    "the sharing policy failed to evaluate",
                    detail="; ".join(result.diagnostics.errors),
                )
            ids = result.diagnostics.id_annotations_by_reason
            out.append(RuleResult(allowed=result.allowed, rule_ids=frozenset(ids.values())))
        return out


def policy_from_settings(settings: PolicySettings) -> CedarPolicy:
    """The configured policy: a replacement file when one is set, else the default."""
    return CedarPolicy(settings.file or DEFAULT_POLICY, settings.schema_file or DEFAULT_SCHEMA)
