"""The verifier's verdict: what it compared, what differed, and the anomalies by class and
surface (the classes are defined in tests/chaos/verifier.py)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tests.chaos.topics_reader import CHANNEL, LOCATIONS

LOST, DUPLICATE, DIVERGED = "lost write", "duplicate applied", "diverged"
NON_MONOTONIC = "non-monotonic version"
FOLLOWS = "follows a position difference"  # listed, not counted: the position's anomaly is


@dataclass
class Verdict:
    records: int = 0  # read from inventory.events
    refused: int = 0  # of them, the design's dead letters
    positions: int = 0
    skus: int = 0
    channels: tuple[str, ...] = ()
    differences: Counter = field(default_factory=Counter)  # surface -> figures that differ
    lost_writes: Counter = field(default_factory=Counter)
    duplicates_applied: Counter = field(default_factory=Counter)
    diverged: Counter = field(default_factory=Counter)
    non_monotonic: Counter = field(default_factory=Counter)
    resent: Counter = field(default_factory=Counter)
    findings: list[str] = field(default_factory=list)  # every difference and anomaly, in order found

    @property
    def matches(self) -> bool:
        return not sum(self.differences.values())

    @property
    def anomalies(self) -> int:
        return sum(sum(c.values()) for c in (self.lost_writes, self.duplicates_applied, self.diverged,
                                             self.non_monotonic))

    @property
    def ok(self) -> bool:
        return self.matches and not self.anomalies

    def note(self, kind: str, surface: str, text: str, difference: bool = True) -> None:
        """One finding: counted under its kind (FOLLOWS under none) and, for a figure that
        differs, under differences."""
        counter = {LOST: self.lost_writes, DUPLICATE: self.duplicates_applied, DIVERGED: self.diverged,
                   NON_MONOTONIC: self.non_monotonic}.get(kind)
        if counter is not None:
            counter[surface] += 1
        if difference:
            self.differences[surface] += 1
        self.findings.append(f"{kind}: {text}")

    def counts(self) -> dict[str, Any]:
        """The numbers a results table shows."""
        return {"records": self.records, "refused": self.refused, "positions": self.positions, "skus": self.skus,
                "differences": sum(self.differences.values()),
                "lost_writes": sum(self.lost_writes.values()),
                "duplicates_applied": sum(self.duplicates_applied.values()),
                "diverged": sum(self.diverged.values()),
                "non_monotonic": {CHANNEL + c: self.non_monotonic[CHANNEL + c] for c in self.channels}
                | {LOCATIONS: self.non_monotonic[LOCATIONS]},
                "resent": {surface: n for surface, n in sorted(self.resent.items()) if n}}

    def report(self, shown: int = 20) -> str:
        scope = (f"{self.positions} positions, {self.skus} SKUs x {len(self.channels)} channels, from "
                 f"{self.records:,} records of inventory.events ({self.refused} refused)")
        lines = [f"ALL-POSITIONS-MATCH: {scope}" if self.matches else
                 f"DIFFERENCES: {sum(self.differences.values())} ({_by_surface(self.differences)}) in {scope}"]
        lines += [f"  {text}" for text in self.findings[:shown]]
        if len(self.findings) > shown:
            lines.append(f"  ... and {len(self.findings) - shown} more")
        monotonic = ", ".join(f"{surface} {n}" for surface, n in self.counts()["non_monotonic"].items())
        lines.append(f"lost writes {sum(self.lost_writes.values())}{_paren(self.lost_writes)} · duplicates applied "
                     f"{sum(self.duplicates_applied.values())}{_paren(self.duplicates_applied)} · diverged "
                     f"{sum(self.diverged.values())}{_paren(self.diverged)} · non-monotonic versions: {monotonic} "
                     f"· re-sent (harmless) {sum(self.resent.values())}")
        return "\n".join(lines)


def _by_surface(counter: Counter) -> str:
    return ", ".join(f"{surface} {n}" for surface, n in sorted(counter.items()) if n)


def _paren(counter: Counter) -> str:
    return f" ({_by_surface(counter)})" if sum(counter.values()) else ""
