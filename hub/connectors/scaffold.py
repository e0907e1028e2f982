"""``hub connectors new``: a new connector package from the template, ready to edit at
its ``TODO`` markers and passing the kit as generated."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points
from importlib.util import find_spec
from pathlib import Path
from string import Template

from pydantic import ValidationError

from hub import __version__
from hub.connectors.registry import ENTRY_POINT_GROUP
from hub.core.errors import ConfigurationError
from hub.schemas.partners import BUILT_IN, served_partner, valid_partner_id
from hub.settings import HubSettings

TEMPLATES = Path(__file__).parent / "templates"
KINDS = ("inbound", "outbound", "lookup")
DEFAULT_PARTNER = {"inbound": "politie", "outbound": "gemeente", "lookup": "kedo"}
EXAMPLE_RECIPIENT = {"gemeente": "gemeente:GM0363", "zvh": "zvh:amsterdam", "llz": "llz:fivoor"}
_NAME = re.compile(r"^[a-z][a-z0-9-]{1,62}$")
_RESERVED = {"test", "tests"}
"""Package names the generated layout uses itself (its kit lives in ``tests/``)."""
SDK_DISTRIBUTION = "ketenhub-sdk"
KIT_IMPORTS = {
    "inbound": (
        "from hub.connectors.events import PoliceEncounter",
        "from hub.connectors.testing import InboundConnectorSuite, InboundScenario",
    ),
    "outbound": (
        "from hub.connectors.events import DataCategory, DetentionStarted",
        "from hub.connectors.testing import OutboundConnectorSuite, OutboundScenario, "
        "sample_delivery",
    ),
    "lookup": ("from hub.connectors.testing import LookupConnectorSuite, LookupScenario",),
}


def _imports(kind: str, module: str, class_name: str) -> str:
    """The test's imports as isort orders them: in the hub's tree the connector is
    first-party like ``hub`` and sorts among its imports; standalone it is the only
    first-party package, in a block of its own."""
    own = f"from {module} import {class_name}"
    hub = list(KIT_IMPORTS[kind])
    if module.startswith("hub."):
        return "\n".join(sorted([*hub, own], key=lambda line: line.split()[1]))
    return "\n".join(hub) + "\n\n" + own


@dataclass(frozen=True)
class Rendered:
    files: list[Path]
    entry_point: str
    test_file: Path


def sdk_requirement(version: str = __version__) -> str:
    """The SDK releases a connector built on ``version`` works with: the same major, or
    the same minor while the major is 0 (a 0.x minor may break the API)."""
    major, minor = (int(part) for part in version.split(".")[:2])
    upper = f"{major}.{minor + 1}" if major == 0 else f"{major + 1}"
    return f"{SDK_DISTRIBUTION}>={major}.{minor},<{upper}"


def _example_recipient(partner: str) -> str:
    """A partner id the kit's example delivery can go to: the one named, a built-in
    kind's example, or one a configured kind's rule accepts."""
    if valid_partner_id(partner):
        return partner
    if partner in EXAMPLE_RECIPIENT:
        return EXAMPLE_RECIPIENT[partner]
    for qualifier in ("voorbeeld", "example", "0001", "a"):
        if valid_partner_id(f"{partner}:{qualifier}"):
            return f"{partner}:{qualifier}"
    raise ConfigurationError(
        f"no example id of kind {partner!r} comes to mind for the kit: name one partner, "
        f"--partner {partner}:<id>",
        field="partner",
    )


def _pytest_kinds(kind: str) -> str:
    """For a partner of a configured kind, the kit's ``hub_partner_kinds``: the kind as
    this hub is configured with it, so that the kit knows it on the partner's machine."""
    if kind in BUILT_IN:
        return ""
    configured = HubSettings().partners.kinds[kind].model_dump(exclude_none=True)
    kinds = json.dumps({kind: configured}, sort_keys=True)
    return (
        "\n# The partner kind as the hub is configured with it (HUB_PARTNERS__KINDS).\n"
        f"hub_partner_kinds = {json.dumps(kinds)}"
    )


def _values(name: str, kind: str, partner: str, module: str, installed: bool) -> dict[str, str]:
    package = module.rsplit(".", 1)[0]
    kind_of_partner = partner.split(":", 1)[0]
    class_name = "".join(part.capitalize() for part in name.split("-"))
    return {
        "name": name,
        "package": package.rsplit(".", 1)[-1],
        "module": module,
        "class_name": class_name,
        "partner": partner,
        "env_name": name.upper().replace("-", "_"),
        "require_entry_point": str(installed),
        "example_recipient": _example_recipient(partner),
        "imports": _imports(kind, module, class_name),
        "pytest_kinds": _pytest_kinds(kind_of_partner),
        "sdk_distribution": SDK_DISTRIBUTION,
        "sdk_requirement": sdk_requirement(),
    }


def _statements(block: str) -> list[str]:
    statements: list[str] = []
    for line in block.splitlines():
        if line.startswith(("import ", "from ")):
            statements.append(line)
        else:
            statements[-1] += "\n" + line
    return statements


def _third_party(block: str) -> bool:
    """Whether ``block`` is an import block of installed packages (not the standard
    library, not ``__future__``)."""
    if not block.startswith(("import ", "from ")):
        return False
    module = block.split()[1].split(".")[0]
    return module != "__future__" and module not in sys.stdlib_module_names


def as_third_party(text: str) -> str:
    """Merge the third-party import block with the ``hub`` block that follows it, as isort
    orders them where ``hub`` is an installed dependency rather than the project itself."""
    blocks = text.split("\n\n")
    for n, block in enumerate(blocks[:-1]):
        following = blocks[n + 1]
        if _third_party(block) and following.startswith("from hub."):
            merged = _statements(block) + _statements(following)
            plain = sorted((s for s in merged if s.startswith("import ")), key=str.split)
            froms = sorted((s for s in merged if s.startswith("from ")), key=lambda s: s.split()[1])
            return "\n\n".join([*blocks[:n], "\n".join(plain + froms), *blocks[n + 2 :]])
    return text


def _write(
    template: Path, target: Path, values: dict[str, str], *, standalone: bool = False
) -> Path:
    if target.exists():
        raise ConfigurationError(f"{target} exists already; nothing was written")
    target.parent.mkdir(parents=True, exist_ok=True)
    text = Template(template.read_text(encoding="utf-8")).substitute(values)
    target.write_text(as_third_party(text) if standalone else text)
    return target


def _refuse_taken(name: str, package: str, *, standalone: bool) -> None:
    """A connector whose name another installed connector has would replace it in the
    hub, and a package named like a module already here (``json``, ``hub``) would hide
    that module from the connector's own imports: both are refused at once."""
    taken = {entry.name: entry.value for entry in entry_points(group=ENTRY_POINT_GROUP)}
    if name in taken:
        raise ConfigurationError(
            f"a connector called {name!r} is installed already ({taken[name]}); choose "
            "another name",
            field="name",
        )
    hidden = package in sys.stdlib_module_names or package in _RESERVED
    if standalone and (hidden or find_spec(package) is not None):
        raise ConfigurationError(
            f"its package would be called {package!r}, the name of a module already here or "
            "of the package's own tests; choose another name",
            field="name",
        )


def new_connector(
    name: str,
    kind: str,
    *,
    partner: str | None = None,
    standalone: Path | None = None,
    tree: Path | None = None,
) -> Rendered:
    """Render ``name`` either as a standalone package under ``standalone`` (with its own
    pyproject.toml) or into the hub's tree rooted at ``tree``."""
    if not _NAME.match(name):
        raise ConfigurationError("a connector name is lower-case-with-dashes", field="name")
    if kind not in KINDS:
        raise ConfigurationError(f"kind must be one of {', '.join(KINDS)}", field="kind")
    package = name.replace("-", "_")
    _refuse_taken(name, package, standalone=standalone is not None)
    partner = partner or DEFAULT_PARTNER[kind]
    try:
        served_partner(partner)
    except ValidationError:
        raise  # the hub's settings, not the partner named: the CLI says which field
    except ValueError as error:
        raise ConfigurationError(str(error), field="partner") from None
    if standalone is not None:
        root = standalone / name
        module = f"{package}.connector"
        values = _values(name, kind, partner, module, installed=False)
        files = [
            _write(TEMPLATES / "common" / "pyproject.toml.tmpl", root / "pyproject.toml", values),
            _write(
                TEMPLATES / "common" / "__init__.py.tmpl", root / package / "__init__.py", values
            ),
            _write(
                TEMPLATES / kind / "connector.py.tmpl",
                root / package / "connector.py",
                values,
                standalone=True,
            ),
        ]
        test_file = root / "tests" / f"test_{package}_kit.py"
    else:
        root = tree or Path.cwd()
        module = f"hub.connectors.{package}.connector"
        values = _values(name, kind, partner, module, installed=False)
        base = root / "hub" / "connectors" / package
        files = [
            _write(TEMPLATES / "common" / "__init__.py.tmpl", base / "__init__.py", values),
            _write(TEMPLATES / kind / "connector.py.tmpl", base / "connector.py", values),
        ]
        test_file = root / "tests" / "connectors" / f"test_{package}_kit.py"
    files.append(_write(TEMPLATES / kind / "test_kit.py.tmpl", test_file, values))
    entry = f'{name} = "{module}:{values["class_name"]}"'
    return Rendered(files=files, entry_point=entry, test_file=test_file)
