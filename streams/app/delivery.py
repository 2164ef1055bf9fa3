"""Nothing is committed that was not delivered (DESIGN §5a; issue 8 point 2).

Faust commits a record's offset once the agent has acknowledged it, and only logs a send that
fails (Topic._on_published); its commit flushes the producer but never asks whether what was
flushed arrived. This ledger closes that gap for every record an agent reads:

1. Every send made while an agent handles a record (an output, a dead letter, a table's
   changelog write: all go through Topic.as_future_message, in the agent's task, where
   faust.streams.current_event() names the record) is filed under the record's topic,
   partition and offset, with the FutureMessage Faust resolves when Kafka answers.
2. Before Faust commits (Consumer._commit, after Faust flushed the producer), each partition's
   offset is held at the lowest offset of a record with a send that failed or has not been
   answered yet. The acknowledgements held back are given back to Faust (_acked), so the
   commit moves on by itself once the record is handled.
3. A failed send asks for a rewind of its partition to that record: at the next fetch
   (Consumer._getmany, between two batches, so no record of the old position is still being
   handed to the streams) the consumer seeks there and Faust's read offset goes back with it.
   The record and everything after it come again and, recognized by their offsets as
   redelivered, send their outputs again (agents/*.py). A rewind that keeps failing (a topic
   that refuses the record, the broker away) is retried with a growing delay.
4. A record handled again supersedes its earlier attempt: once every send of the new attempt
   is answered (or, with none, once it is acknowledged), the old failure no longer holds the
   partition back.

Sends made outside a record (timers, HTTP views) are not filed: they have their own retries.
A rebalance forgets the partitions it revokes: Faust seeks every partition it assigns to its
committed offset, which is never past a record with an undelivered send.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, MutableMapping

import faust
from faust.streams import current_event
from faust.types import TP

log = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 0.25
MAX_RETRY_SECONDS = 10.0


@dataclass(eq=False)
class Attempt:
    """One handling of one record: the message Faust delivered and the sends it made."""

    message: Any
    sends: list = field(default_factory=list)

    def failure(self) -> BaseException | None:
        for fut in self.sends:
            if fut.done():
                if fut.cancelled():
                    return RuntimeError("send cancelled")
                if fut.exception() is not None:
                    return fut.exception()
        return None

    def pending(self) -> bool:
        return any(not fut.done() for fut in self.sends)

    def delivered(self) -> bool:
        return all(fut.done() and not fut.cancelled() and fut.exception() is None for fut in self.sends)


class Ledger:
    def __init__(self) -> None:
        self.attempts: dict[TP, dict[int, Attempt]] = {}
        self.rewinds: dict[TP, int] = {}  # partition -> offset to go back to
        self.not_before: dict[TP, float] = {}
        self.retries: dict[TP, int] = {}  # rewinds since the partition last committed

    # --- filing -----------------------------------------------------------------------------

    def track(self, fut: Any) -> None:
        event = current_event()
        if event is None:
            return  # a timer or a view: not the output of a record
        message = event.message
        per_tp = self.attempts.setdefault(message.tp, {})
        attempt = per_tp.get(message.offset)
        if attempt is None or attempt.message is not message:
            attempt = per_tp[message.offset] = Attempt(message)  # a redelivery starts afresh
        attempt.sends.append(fut)
        fut.add_done_callback(lambda f: self._answered(message.tp, message.offset, attempt, f))

    def _answered(self, tp: TP, offset: int, attempt: Attempt, fut: Any) -> None:
        per_tp = self.attempts.get(tp)
        if per_tp is None or per_tp.get(offset) is not attempt:
            if not fut.cancelled():
                fut.exception()  # retrieved: superseded or revoked, nothing to do
            return
        error = RuntimeError("send cancelled") if fut.cancelled() else fut.exception()
        if error is not None:
            if self._ask_rewind(tp, offset):  # once per partition and rewind: no log storm
                topic = fut.message.channel.get_topic_name()
                log.warning("delivery to %s failed for %s[%s]@%s (%s: %s): its partition is not committed "
                            "past it and goes back to it", topic, tp.topic, tp.partition, offset,
                            type(error).__name__, error)
        elif attempt.delivered():
            del per_tp[offset]

    def acked(self, message: Any) -> None:
        """Faust acknowledged a record: one handled again without sending anything replaces an
        earlier attempt that failed."""
        per_tp = self.attempts.get(message.tp)
        attempt = per_tp.get(message.offset) if per_tp else None
        if attempt is not None and attempt.message is not message:
            del per_tp[message.offset]

    def failed(self, message: Any, error: BaseException) -> None:
        """An agent could not handle a record at all (not even dead-letter it)."""
        per_tp = self.attempts.setdefault(message.tp, {})
        fut = asyncio.get_running_loop().create_future()
        fut.set_exception(error)
        fut.exception()
        attempt = per_tp.get(message.offset)
        if attempt is None or attempt.message is not message:
            attempt = per_tp[message.offset] = Attempt(message)
        attempt.sends.append(fut)
        log.warning("%s[%s]@%s could not be handled (%s): its partition goes back to it",
                    message.topic, message.partition, message.offset, error)
        self._ask_rewind(message.tp, message.offset)

    # --- committing -------------------------------------------------------------------------

    def floor(self, tp: TP) -> int | None:
        """The lowest offset of the partition with a send failed or unanswered."""
        per_tp = self.attempts.get(tp)
        if not per_tp:
            return None
        held = [offset for offset, attempt in per_tp.items() if attempt.pending() or attempt.failure()]
        return min(held) if held else None

    def hold_back(self, offsets: MutableMapping[TP, int], acked: MutableMapping[TP, list],
                  acked_index: MutableMapping[TP, set], committed: MutableMapping[TP, Any]) -> None:
        """Lower, in place, the offsets Faust is about to commit, and give the held-back
        acknowledgements back to it."""
        for tp in list(offsets):
            offset = offsets[tp]
            floor = self.floor(tp)
            if floor is None or floor >= offset:
                if floor is None:
                    self.retries.pop(tp, None)
                continue
            last = committed.get(tp)
            back = range(max(floor, last or 0), offset)
            # Faust's list also holds offsets its index does not (the gaps it fills in): one given
            # back twice would stop every later commit at the first of the pair.
            present = acked_index[tp].union(acked[tp])
            fresh = [o for o in back if o not in present]
            acked[tp].extend(fresh)
            acked_index[tp].update(fresh)
            if floor <= (last or 0):
                # Nothing new to commit. (Never commit 0 either: aiokafka's seek_to_committed
                # does not seek to a committed 0, see streams/app/compat.py.)
                del offsets[tp]
            else:
                offsets[tp] = floor
            log.info("commit of %s[%s] held at %s (not %s): a send of that record is not delivered",
                     tp.topic, tp.partition, floor, offset)

    # --- rewinding --------------------------------------------------------------------------

    def _ask_rewind(self, tp: TP, offset: int) -> bool:
        """True if the partition had no rewind coming."""
        first = tp not in self.rewinds
        if not first and self.rewinds[tp] <= offset:
            return False
        retries = self.retries.get(tp, 0)
        self.rewinds[tp] = offset
        self.not_before[tp] = time.monotonic() + min(FIRST_RETRY_SECONDS * 2 ** retries, MAX_RETRY_SECONDS)
        return first

    def due_rewinds(self) -> dict[TP, int]:
        now = time.monotonic()
        due = {tp: offset for tp, offset in self.rewinds.items() if self.not_before.get(tp, 0) <= now}
        for tp in due:
            del self.rewinds[tp]
            self.not_before.pop(tp, None)
            self.retries[tp] = self.retries.get(tp, 0) + 1
        return due

    def forget(self, tps: Iterable[TP]) -> None:
        for tp in tps:
            self.attempts.pop(tp, None)
            self.rewinds.pop(tp, None)
            self.not_before.pop(tp, None)
            self.retries.pop(tp, None)


ledger = Ledger()


class Topic(faust.Topic):
    """Every send of the app goes through here (app.topic, table changelogs, the DLQ)."""

    def as_future_message(self, *args: Any, **kwargs: Any) -> Any:
        fut = super().as_future_message(*args, **kwargs)
        ledger.track(fut)
        return fut

    async def publish_message(self, fut: Any, wait: bool = False) -> Any:
        try:
            return await super().publish_message(fut, wait=wait)
        except BaseException as exc:
            # Refused before Kafka saw it (too large for the producer, no metadata in time):
            # Faust never resolves the future; the record's attempt must still count as failed.
            if not fut.done():
                fut.set_exception(exc)
            raise
