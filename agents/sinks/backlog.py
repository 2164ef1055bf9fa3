"""What a sink still owes its channel: the newest delta per SKU not yet acknowledged. Pure: no
Kafka, no clock, no I/O.

1. `add` takes a delta read from availability.<channel> (with its partition and offset); a
   version at or below one already held, in flight or acknowledged for the SKU is dropped.
   A newer one replaces what is held: only the latest value per SKU is ever sent.
2. `take(n)` hands out up to n SKUs to send, most urgent first: zeros (a sell-out), then other
   decreases, then increases, each oldest first. A SKU with a send in flight is not handed out
   again until that send ends, so an older version can never reach the channel after a newer.
3. `acknowledged` (the channel said yes), `failed` (try again later) or `dropped` (refused for
   good, dead-lettered) ends a send. A failed update goes back unless a newer one arrived.
4. `committable(partition)` is the offset the sink may commit: below the first record whose
   value the channel has not acknowledged (an update coalesced from several records counts
   from its first), so a crash re-sends and never loses the last value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

ZERO, DECREASE, INCREASE = 0, 1, 2  # urgency, most urgent first


@dataclass(slots=True)
class Update:
    sku: str
    available: int
    version: int
    published_at: int  # epoch ms
    partition: int
    first_offset: int  # the earliest record coalesced into this update
    last_offset: int
    shown: int | None  # what the channel shows as far as we know (None: unknown)
    seq: int = 0  # arrival order of the first record coalesced (oldest first)

    def urgency(self) -> int:
        if self.available <= 0:
            return ZERO
        if self.shown is not None and self.available < self.shown:
            return DECREASE
        return INCREASE

    def as_item(self) -> dict[str, Any]:
        return {"sku": self.sku, "available": self.available, "version": self.version,
                "published_at": self.published_at}


@dataclass
class Backlog:
    held: dict[str, Update] = field(default_factory=dict)  # waiting to be sent
    in_flight: dict[str, Update] = field(default_factory=dict)
    acked: dict[str, tuple[int, int]] = field(default_factory=dict)  # sku -> (version, available)
    seen: dict[int, int] = field(default_factory=dict)  # partition -> highest offset read
    _seq: int = 0

    def add(self, delta: Mapping[str, Any], partition: int, offset: int) -> bool:
        """True if the delta is newer than anything known of its SKU (it is now held)."""
        self.seen[partition] = max(offset, self.seen.get(partition, -1))
        sku, version = delta["sku"], delta["version"]
        if version <= self._newest_version(sku):
            return False
        before = self.held.get(sku)
        self._seq += 1
        self.held[sku] = Update(
            sku=sku, available=delta["available"], version=version, published_at=delta["published_at"],
            partition=partition, first_offset=before.first_offset if before else offset, last_offset=offset,
            shown=self._shown(sku, delta, before), seq=before.seq if before else self._seq,
        )
        return True

    def take(self, n: int) -> list[Update]:
        ready = [u for sku, u in self.held.items() if sku not in self.in_flight]
        ready.sort(key=lambda u: (u.urgency(), u.seq))
        chosen = ready[:n]
        for update in chosen:
            del self.held[update.sku]
            self.in_flight[update.sku] = update
        return chosen

    def urgent_waiting(self) -> bool:
        """A zero or a decrease is held (a sink short of budget sends those first)."""
        return any(u.urgency() != INCREASE for sku, u in self.held.items() if sku not in self.in_flight)

    def acknowledged(self, updates: Iterable[Update]) -> None:
        for update in updates:
            self.in_flight.pop(update.sku, None)
            self.acked[update.sku] = (update.version, update.available)
            newer = self.held.get(update.sku)
            if newer is not None:
                newer.shown = update.available

    def dropped(self, update: Update) -> None:
        """A send refused for good (dead-lettered): done with, yet not shown, so the same
        version replayed from the DLQ is taken again."""
        self.in_flight.pop(update.sku, None)

    def failed(self, updates: Iterable[Update]) -> None:
        for update in updates:
            self.in_flight.pop(update.sku, None)
            newer = self.held.get(update.sku)
            if newer is None:
                self.held[update.sku] = update
            else:  # the newer value goes, counted from the older's first record
                newer.first_offset = min(newer.first_offset, update.first_offset)
                newer.seq = min(newer.seq, update.seq)
                newer.shown = update.shown  # the failed value never reached the channel

    def committable(self, partition: int) -> int | None:
        """The offset to commit for a partition (the next to read), None before any record."""
        if partition not in self.seen:
            return None
        owed = [u.first_offset for u in (*self.held.values(), *self.in_flight.values()) if u.partition == partition]
        return min(owed) if owed else self.seen[partition] + 1

    def __len__(self) -> int:
        return len(self.held)

    def _newest_version(self, sku: str) -> int:
        versions = [self.acked[sku][0]] if sku in self.acked else []
        versions += [u.version for u in (self.held.get(sku), self.in_flight.get(sku)) if u is not None]
        return max(versions, default=-1)

    def _shown(self, sku: str, delta: Mapping[str, Any], before: Update | None) -> int | None:
        if before is not None:
            return before.shown
        if sku in self.in_flight:
            return self.in_flight[sku].available
        if sku in self.acked:
            return self.acked[sku][1]
        return delta.get("previous")
