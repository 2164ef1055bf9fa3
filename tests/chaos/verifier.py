"""The independent verifier of the fault suite (issue 13): reads inventory.events from the
beginning, folds it with DESIGN §3 and §4 written again (tests/reference/inventory.py,
tests/chaos/log_fold.py, tests/chaos/channels_reference.py; no engine model code), and compares
the fold with what the engine shows:
- positions: GET /positions/{sku}/{location} for every SKU@LOCATION of the log or the output;
- availability.locations: per SKU@LOCATION, the record with the highest version;
- availability.<channel>, every channel in force: per SKU, the delta with the highest version.

It prints ALL-POSITIONS-MATCH when every figure equals the fold, else the first differences,
and counts the anomalies below (Jepsen's classes), per surface (`positions`,
`availability.locations`, `availability.<channel>`, `transfers`):

lost write
    The engine is missing an effect the log holds: a position or location record whose
    figures equal the fold without one of its events (exact), or, failing a single-event
    explanation, whose version is below the fold's number of changes; a position the fold
    changed that the engine does not show at all; a SKU the location stage published with no
    delta on a channel; a channel value other than the formula over the fold while the SKU's
    positions equal the fold (the channel stage missed a change); a transfer shipped with no
    inbound half on the log.
duplicate applied
    The engine holds an effect twice: figures equal the fold with one event applied a second
    time (exact; a copy under a new id, as if its dedupe had failed), or, failing that, a version
    above the fold's number of changes; an inbound half the engine wrote for a shipment the fold
    did not apply (a second write of one effect: whether the destination applied it too shows
    on that position).
diverged
    A difference neither class explains (same number of changes, other figures), or figures for
    a position no record on the log names.
non-monotonic version
    On availability.<channel> per SKU, and on availability.locations per SKU@LOCATION, in offset
    order: a version lower than any read before it that was never read with this value, or a
    version read again with another value. A record read before (same version, same value),
    again, is the engine re-sending after a crash or an outage (README, Delivery guarantees),
    even after newer ones (a worker that took a partition over sends again what the one before
    it sent and could not confirm): counted as `resent`, not an anomaly: a consumer keeping
    the highest version ignores it, and one that does not sees a value it had already seen.

A channel difference for a SKU whose positions already differ is listed but not counted again:
it follows from the position's anomaly. The single-event search is exact only in what it
claims (those figures are what one lost or repeated event gives, the newest such event is
named; an older one with the same effect may be the real one); it is tried on the first
EXPLAIN_POSITIONS differing positions with at most EXPLAIN_STEPS events, the version decides
beyond.

    python -m tests.chaos.verifier --prefix it-abc. [--bootstrap 127.0.0.1:9092] [--worker-port 6066]
                                   [--dedupe-window 200] [--settle 30] [--show 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any, Callable, Iterator, Mapping, Sequence

from tests.chaos.channels_reference import Policies, channel_values
from tests.chaos.log_fold import LogFold, Step, fold_log
from tests.chaos.topics_reader import CHANNEL, LOCATIONS, Observed, read_log, read_observed
from tests.chaos.verdict import DIVERGED, DUPLICATE, FOLLOWS, LOST, NON_MONOTONIC, Verdict

FIGURES = ("on_hand", "quarantined", "damaged", "held", "reserved", "picked", "incoming", "safety_stock", "ats")
POSITIONS, TRANSFERS = "positions", "transfers"
EXPLAIN_POSITIONS = 10
EXPLAIN_STEPS = 1500
AGAIN = "#again"  # the id of an event's second copy in a what-if replay


def compare(fold: LogFold, observed: Observed, policies: Policies, catalog: Mapping[str, Mapping[str, Any]]) -> Verdict:
    verdict = Verdict(fold.records, len(fold.refused), channels=tuple(sorted(policies.channels)))
    # Anomalies of the log itself, not figures: a lost half shows on its destination's figures
    # too, an orphan only once its destination no longer remembers the first half's id.
    for half in fold.lost_halves:
        verdict.note(LOST, TRANSFERS, f"{half}: its shipment was applied, the half never reached the log", False)
    for orphan in fold.orphan_halves:
        verdict.note(DUPLICATE, TRANSFERS, f"inbound half {orphan}", False)
    budget = [EXPLAIN_POSITIONS]  # positions the single-event search may still take
    differing: set[str] = set()  # SKUs
    keys = sorted(set(fold.positions) | set(observed.locations) | set(observed.positions or ()))
    verdict.positions = len(keys)
    for key in keys:
        if observed.positions is not None:
            shown = observed.positions.get(key)
            if not _position_matches(verdict, fold, POSITIONS, key, shown, budget):
                differing.add(key.split("@")[0])
        records = observed.locations.get(key, [])
        _check_versions(verdict, LOCATIONS, key, records, lambda r: tuple(r[f] for f in FIGURES))
        if not _position_matches(verdict, fold, LOCATIONS, key, _latest(records), budget):
            differing.add(key.split("@")[0])
    _compare_channels(verdict, fold, observed, policies, catalog, differing)
    return verdict


def _latest(records: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The highest version; of equal ones the last read."""
    return max(reversed(records), key=lambda r: r["version"], default=None)


def _position_matches(verdict: Verdict, fold: LogFold, surface: str, key: str, shown: dict[str, Any] | None,
                      budget: list[int]) -> bool:
    expected = fold.positions.get(key)
    if shown is None:
        if expected is None or expected.changes == 0:
            return True
        verdict.note(LOST, surface, f"{surface} {key}: missing, the fold made {expected.changes} changes to it")
        return False
    if expected is None:
        verdict.note(DIVERGED, surface, f"{surface} {key}: shown, no event on the log names it")
        return False
    want, got = expected.view(), {f: shown.get(f) for f in FIGURES}
    if got == want:
        return True
    kind, why = _explain(fold, key, got, shown.get("version"), budget)
    figures = ", ".join(f"{f} {got[f]} (fold {want[f]})" for f in FIGURES if got[f] != want[f])
    verdict.note(kind, surface, f"{surface} {key}: {figures}; {why}")
    return False


def _explain(fold: LogFold, key: str, got: dict[str, Any], version: int | None, budget: list[int]) -> tuple[str, str]:
    steps = fold.steps[key]
    if budget[0] > 0 and len(steps) <= EXPLAIN_STEPS:
        budget[0] -= 1
        for kind, why, variant in _variants(steps):
            if fold.replay(key, variant)[0].view() == got:
                return kind, why
    changes = fold.positions[key].changes
    if version is not None and version < changes:
        return LOST, f"version {version}, below the fold's {changes} changes"
    if version is not None and version > changes:
        return DUPLICATE, f"version {version}, above the fold's {changes} changes"
    return DIVERGED, f"version {version}, the fold's {changes} changes, and no single event explains it"


def _variants(steps: list[Step]) -> Iterator[tuple[str, str, list[Step]]]:
    """The histories one lost or one repeated event makes, newest event first: a crash loses
    or repeats the last records before it, and of two events with the same effect (two
    receipts of 7) the newer is named."""
    for i in reversed(range(len(steps))):
        step = steps[i]
        event_id = step.event["event_id"]
        again = Step({**step.event, "event_id": event_id + AGAIN}, None)
        if step.truth:
            yield LOST, f"exactly the fold without event {event_id}", steps[:i] + steps[i + 1:]
            yield DUPLICATE, f"exactly the fold with event {event_id} applied twice", steps[:i + 1] + [again] + steps[i + 1:]
        else:
            yield DUPLICATE, f"exactly the fold with {event_id} (a copy or orphan half) applied", \
                steps[:i] + [again] + steps[i + 1:]


def _check_versions(verdict: Verdict, surface: str, key: str, records: Sequence[dict[str, Any]],
                    value: Callable[[dict[str, Any]], Any]) -> None:
    top, values = None, {}
    for record in records:
        version = record["version"]
        if version in values and values[version] == value(record):
            verdict.resent[surface] += 1  # an earlier record again, also after newer ones
        elif top is not None and version < top:
            verdict.note(NON_MONOTONIC, surface, f"{surface} {key}: version {version} after {top}", False)
        elif version in values:
            verdict.note(NON_MONOTONIC, surface,
                         f"{surface} {key}: version {version} again with {value(record)}, was {values[version]}", False)
        values.setdefault(version, value(record))
        top = version if top is None else max(top, version)


def _compare_channels(verdict: Verdict, fold: LogFold, observed: Observed, policies: Policies,
                      catalog: Mapping[str, Mapping[str, Any]], differing: set[str]) -> None:
    stock_of: dict[str, dict[str, dict[str, int]]] = {}
    published = set()  # SKUs the location stage must have published: the channel stage too
    for key, position in fold.positions.items():
        sku, location = key.split("@", 1)
        stock_of.setdefault(sku, {})[location] = position.view()
        if position.changes:
            published.add(sku)
    kits = {sku for sku, item in catalog.items() if item.get("components")}
    skus = sorted(published | kits | {sku for by_sku in observed.channels.values() for sku in by_sku})
    verdict.skus = len(skus)
    for sku in skus:
        parts = _parts(sku, catalog)
        want = channel_values(sku, policies, catalog, stock_of)
        for channel in sorted(policies.channels):
            surface = CHANNEL + channel
            deltas = observed.channels.get(channel, {}).get(sku, [])
            _check_versions(verdict, surface, sku, deltas, lambda d: d["available"])
            last = _latest(deltas)
            if last is None:
                if parts & published:
                    verdict.note(LOST, surface, f"{surface} {sku}: no delta, the formula over the fold gives {want[channel]}")
                continue
            if last["available"] == want[channel]:
                continue
            kind = FOLLOWS if parts & differing else LOST
            verdict.note(kind, surface, f"{surface} {sku}: shows {last['available']} (version {last['version']}), "
                                        f"the formula over the fold gives {want[channel]}")


def _parts(sku: str, catalog: Mapping[str, Mapping[str, Any]], inside: frozenset[str] = frozenset()) -> set[str]:
    """The SKUs whose positions make this SKU's availability: itself, or a kit's components."""
    components = (catalog.get(sku) or {}).get("components") or ()
    if not components or sku in inside:
        return {sku}
    return set().union(*(_parts(c["sku"], catalog, inside | {sku}) for c in components))


def verify(prefix: str, bootstrap: str, worker_port: int | None = None, dedupe_window: int = 200) -> Verdict:
    """One look: the log, then what the engine shows. Meaningful once the engine is quiet:
    while it works, what it shows is later than the log that was read. worker_port None:
    positions are not asked for (no worker running), the topics are still compared."""
    log = read_log(bootstrap, prefix)
    fold = fold_log(log.events, log.catalog, log.policies.safety_stock, dedupe_window)
    observed = read_observed(bootstrap, prefix, log.policies.channels, worker_port, fold.positions)
    return compare(fold, observed, log.policies, log.catalog)


def verify_settled(prefix: str, bootstrap: str, worker_port: int | None = None, dedupe_window: int = 200,
                   settle_seconds: float = 30) -> Verdict:
    """Looks again until there is nothing to report or settle_seconds pass: the last records
    may still be on their way (an inbound half not written yet), a pending increase waits for
    its channel's interval."""
    deadline = time.monotonic() + settle_seconds
    while True:
        verdict = verify(prefix, bootstrap, worker_port, dedupe_window)
        if verdict.ok or time.monotonic() >= deadline:
            return verdict
        time.sleep(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.verifier", description=__doc__.split("\n\n")[0])
    parser.add_argument("--prefix", required=True, help="the deployment's STOCKSTREAM_TOPIC_PREFIX")
    parser.add_argument("--bootstrap", default=os.environ.get("STOCKSTREAM_KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    parser.add_argument("--worker-port", type=int, help="a worker's HTTP port; without it positions are not asked")
    parser.add_argument("--dedupe-window", type=int, default=int(os.environ.get("STOCKSTREAM_DEDUPE_WINDOW", "200")))
    parser.add_argument("--settle", type=float, default=0, help="seconds to keep looking until nothing is to report")
    parser.add_argument("--show", type=int, default=20, help="findings printed")
    args = parser.parse_args(argv)
    verdict = verify_settled(args.prefix, args.bootstrap, args.worker_port, args.dedupe_window, args.settle)
    print(verdict.report(args.show))
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
