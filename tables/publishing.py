"""When a channel's new availability is published (DESIGN §4). Pure: no Kafka, no clock.

Only changes are published, each with the next version of that SKU on that channel. A
decrease goes out at once: a sell-out must reach every channel in well under a second. An
increase waits for the channel's interval and the latest value wins, so a busy SKU cannot
flood a rate-limited marketplace. A pending increase is state like any other: it is written
with the SKU's record and survives a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple


class Cause(NamedTuple):
    """The change behind a value: its event, when that occurred and when it reached Kafka
    (epoch ms; None for a change no event made, a policy's, or one not timed)."""

    event_id: str | None
    correlation_id: str | None
    occurred_at: int | None = None
    ingested_at: int | None = None


@dataclass(slots=True)
class ChannelOutput:
    published: int | None = None  # the last value on availability.<channel>
    previous: int | None = None  # the one before it
    version: int = 0
    pending: int | None = None  # an increase waiting for its time
    due: int | None = None  # epoch ms when the pending increase goes out
    event_id: str | None = None  # what caused the value being published or pending
    correlation_id: str | None = None
    # [occurred_at, ingested_at] of the oldest change the pending increase holds back: the
    # channel's real lag when it goes out.
    pending_since: list[int | None] | None = None


@dataclass(frozen=True, slots=True)
class Delta:
    channel: str
    available: int
    previous: int | None
    version: int
    event_id: str | None
    correlation_id: str | None
    # When the oldest change it publishes occurred and reached Kafka (epoch ms); None for a
    # value sent again or made by a policy change.
    occurred_at: int | None = None
    ingested_at: int | None = None


def decide(out: ChannelOutput, channel: str, value: int, now_ms: int, interval_ms: int, cause: Cause) -> Delta | None:
    """Record a newly computed value; the delta to publish now, if any."""
    if out.published is not None and value == out.published:
        out.pending = out.due = out.pending_since = None  # back where it was: nothing to say
        return None
    if out.published is None or value < out.published or interval_ms <= 0:
        return _publish(out, channel, value, cause)
    out.pending = value
    out.event_id, out.correlation_id = cause.event_id, cause.correlation_id
    if out.due is None:
        out.due = now_ms + interval_ms
        out.pending_since = [cause.occurred_at, cause.ingested_at]
    return None


def flush(out: ChannelOutput, channel: str, now_ms: int) -> Delta | None:
    """The pending increase, once it is due."""
    if out.pending is None or out.due is None or out.due > now_ms:
        return None
    return _publish(out, channel, out.pending, Cause(out.event_id, out.correlation_id, *(out.pending_since or (None, None))))


def _publish(out: ChannelOutput, channel: str, value: int, cause: Cause) -> Delta:
    previous = out.previous = out.published
    out.published = value
    out.version += 1
    out.pending = out.due = out.pending_since = None
    out.event_id, out.correlation_id = cause.event_id, cause.correlation_id
    return Delta(channel, value, previous, out.version, *cause)


def as_record(sku: str, delta: Delta, published_at_ms: int) -> dict[str, Any]:
    """The AvailabilityDelta record."""
    return {
        "sku": sku, "channel": delta.channel, "available": delta.available, "previous": delta.previous,
        "version": delta.version, "published_at": published_at_ms, "event_id": delta.event_id,
        "correlation_id": delta.correlation_id,
    }
