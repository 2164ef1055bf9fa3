"""The order in which a worker's agents get the records of one fetched batch.

Faust goes round robin between topics; but a batch holds whatever the fetcher had, and with a
backlog of inventory.events that is thousands of events and a few records of the topics the
stages write for each other (availability.locations, the reservation service's log, ...). Round
robin hands those few out at the start and the channel stage then waits for the whole batch of
events, so it runs behind the location stage by the backlog. Records of the engine's own topics
go first here (each stage drains what the stage before it produced), then the events.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from faust.transport.utils import DefaultSchedulingStrategy
from faust.types import TP


class DownstreamFirst(DefaultSchedulingStrategy):
    upstream: frozenset[str] = frozenset()  # topic names served last: set by the app

    def iterate(self, records: Mapping[TP, list]) -> Iterator[tuple[TP, Any]]:
        downstream = {tp: batch for tp, batch in records.items() if tp.topic not in self.upstream}
        upstream = {tp: batch for tp, batch in records.items() if tp.topic in self.upstream}
        yield from self.records_iterator(self.map_from_records(downstream))
        yield from self.records_iterator(self.map_from_records(upstream))
