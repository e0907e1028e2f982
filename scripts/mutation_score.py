"""The score of `make mutate`: killed / total per module and overall, and every survivor.

Reads mutmut's verdicts through ``mutmut results --all true`` (run from the project
root, after ``mutmut run``). A mutant counts as killed when a test failed on it, when it
made the tests run out of time, or when the type checker refused it; everything else
(survived, no tests, suspicious, a crash) counts against the score. A survivor whose
mutant id appears in docs/policy.md (its section "Mutation testing") is shown with
"explained". Exits 1 below ``--minimum`` percent, or when a mutant was not checked.

Modules are dotted names; a bare name is one of ``hub.routing``:

    python scripts/mutation_score.py --minimum 95 disclosure hub.schemas.consent_profile
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

PACKAGE = "hub.routing"
MODULES = (
    "hub.routing.decision",
    "hub.routing.mitz",
    "hub.routing.conditions",
    "hub.routing.disclosure",
    "hub.routing.recipients",
    "hub.schemas.consent_profile",
)
KILLED = frozenset({"killed", "timeout", "caught by type check"})
EXPLANATIONS = Path("docs/policy.md")


def verdicts() -> dict[str, str]:
    """Every mutant mutmut knows, with its status."""
    mutmut = Path(sys.executable).with_name("mutmut")
    command = [str(mutmut), "results", "--all", "true"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout  # noqa: S603
    found = {}
    for line in out.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and "__mutmut_" in name:
            found[name] = status
    return found


def module_of(mutant: str) -> str:
    """``hub.routing.mitz.x_resolve__mutmut_17`` is of ``hub.routing.mitz``."""
    return mutant.rpartition(".")[0]


def dotted(module: str) -> str:
    return module if "." in module else f"{PACKAGE}.{module}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", default=list(MODULES), help="dotted names")
    parser.add_argument("--minimum", type=float, default=95.0, help="percent killed")
    args = parser.parse_args(argv)
    modules = [dotted(m) for m in args.modules]

    chosen = {m: s for m, s in verdicts().items() if module_of(m) in modules}
    if not chosen:
        print("No mutants of these modules: run mutmut first (make mutate).")
        return 1
    text = EXPLANATIONS.read_text(encoding="utf-8") if EXPLANATIONS.exists() else ""
    explained = set(re.findall(r"[\w.]+__mutmut_\d+", text))

    header = ("module", "mutants", "killed", "timeout", "survived", "other", "score")
    print(f"{header[0]:<28}" + "".join(f"{h:>9}" for h in header[1:]))
    for module in modules:
        counts = Counter(s for m, s in chosen.items() if module_of(m) == module)
        total = sum(counts.values())
        if not total:
            continue
        other = total - counts["killed"] - counts["timeout"] - counts["survived"]
        score = 100 * sum(counts[s] for s in KILLED) / total
        row = (total, counts["killed"], counts["timeout"], counts["survived"], other)
        print(f"{module:<28}" + "".join(f"{n:>9}" for n in row) + f"{score:>8.1f}%")

    survivors = sorted(m for m, s in chosen.items() if s not in KILLED)
    for mutant in survivors:
        note = "explained" if mutant in explained else "UNEXPLAINED"
        print(f"  {chosen[mutant]:<12} {note:<12} {mutant}")
    unchecked = [m for m in survivors if chosen[m] == "not checked"]

    killed = len(chosen) - len(survivors)
    score = 100 * killed / len(chosen)
    print(f"mutation score: {killed} / {len(chosen)} killed = {score:.1f} %", end=" ")
    print(f"(minimum {args.minimum:g} %)")
    if unchecked:
        print(f"{len(unchecked)} mutants were not checked: the run did not finish.")
        return 1
    return 0 if score >= args.minimum else 1


if __name__ == "__main__":
    sys.exit(main())
