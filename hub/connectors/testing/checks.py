"""The checks every connector kind shares: registration, configuration and health.

Each check is a small class whose docstring says what it pins; a failing check prints
that docstring above the detail, so a partner team reads what is expected of them.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from pydantic import SecretStr

from hub.connectors.base import Connector, ConnectorConfig
from hub.connectors.registry import installed
from hub.connectors.testing.harness import run
from hub.core.errors import ConfigurationError, RetryableError
from hub.schemas.partners import served_partner

if TYPE_CHECKING:
    from hub.connectors.testing.suites import ConnectorSuite

NAME = re.compile(r"^[a-z][a-z0-9-]{1,62}$")
VERSION = re.compile(r"^\d+\.\d+\.\d+([.+-][0-9A-Za-z.+-]+)?$")
SECRET_WORDS = ("secret", "password", "token", "api_key", "apikey", "private_key", "passphrase")


SuiteT = TypeVar("SuiteT")


class KitCheck(Generic[SuiteT]):
    name: ClassVar[str]
    marks: ClassVar[tuple[Any, ...]] = ()

    def run(self, suite: SuiteT) -> None:
        raise NotImplementedError

    def fail(self, detail: str) -> None:
        doc = (type(self).__doc__ or "").strip()
        raise AssertionError(f"[{self.name}] {doc}\n\n{detail}")


class RegistrationAndMetadata(KitCheck["ConnectorSuite"]):
    """The connector declares a lower-case name, a semantic version, a valid partner id
    or partner kind, and what it emits or accepts; when installed, its entry point in
    the ``hub.connectors`` group has the same name and loads this class."""

    name = "registration-and-metadata"

    def run(self, suite: ConnectorSuite) -> None:
        cls = suite.connector
        problems = []
        if not NAME.match(getattr(cls, "name", "")):
            problems.append(f"name {getattr(cls, 'name', None)!r} is not lower-case-with-dashes")
        if not VERSION.match(getattr(cls, "version", "")):
            problems.append(f"version {getattr(cls, 'version', None)!r} is not like 1.2.3")
        try:
            served_partner(getattr(cls, "partner", ""))
        except ValueError as error:
            problems.append(str(error))
        declared = getattr(
            cls, {"inbound": "emits", "outbound": "accepts"}.get(cls.kind, "answers"), ()
        )
        if not declared:
            problems.append(f"a {cls.kind} connector must declare what it emits or accepts")
        if not cls.topics() and cls.kind != "lookup":
            problems.append("it declares no topic")
        registered = installed().get(getattr(cls, "name", ""))
        if suite.require_entry_point and registered is not cls:
            problems.append(
                f"no entry point {cls.name!r} in the 'hub.connectors' group loads this class"
            )
        if problems:
            self.fail("; ".join(problems))


class ConfigSchema(KitCheck["ConnectorSuite"]):
    """The config model forbids unknown keys, holds every credential as ``SecretStr``,
    accepts the suite's config, and a bad key raises a ConfigurationError naming the
    field (``connectors.<name>.<field>``)."""

    name = "config-schema"

    def run(self, suite: ConnectorSuite) -> None:
        model = suite.connector.config_model
        if not issubclass(model, ConnectorConfig):
            self.fail(f"{model.__name__} does not derive from ConnectorConfig")
        if model.model_config.get("extra") != "forbid":
            self.fail("the config model must forbid unknown keys (extra='forbid')")
        for field_name, info in model.model_fields.items():
            if any(word in field_name.lower() for word in SECRET_WORDS):
                annotation = str(info.annotation)
                if "SecretStr" not in annotation:
                    self.fail(f"{field_name} looks like a credential but is {annotation}")
        try:
            suite.connector.from_config(suite.config)
        except ConfigurationError as error:
            self.fail(f"the suite's own config is refused: {error}")
        bad = {**suite.config, "no_such_setting": 1}
        try:
            suite.connector.from_config(bad)
        except ConfigurationError as error:
            expected = f"connectors.{suite.connector.name}.no_such_setting"
            if error.field != expected:
                self.fail(f"the error names {error.field!r}, not {expected!r}")
        else:
            self.fail("an unknown key was accepted")
        loaded = suite.connector.from_config(suite.config).config
        for field_name in model.model_fields:
            value = getattr(loaded, field_name)
            if isinstance(value, SecretStr) and value.get_secret_value() in repr(loaded):
                self.fail(f"{field_name} shows in the config's repr")


class HealthProbe(KitCheck["ConnectorSuite"]):
    """``check()`` returns, or raises a ConfigurationError or RetryableError, within the
    suite's timeout; any other exception or a hang fails."""

    name = "health-probe"

    def run(self, suite: ConnectorSuite) -> None:
        connector: Connector[Any] = suite.build()

        async def probe() -> None:
            async with asyncio.timeout(suite.check_timeout_s):
                await connector.check()

        try:
            run(probe())
        except (ConfigurationError, RetryableError):
            return
        except TimeoutError:
            self.fail(f"check() did not finish within {suite.check_timeout_s} s")
        except Exception as exc:
            self.fail(f"check() raised {type(exc).__name__}, not a categorised error")
