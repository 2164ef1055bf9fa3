"""The Faust tables: positions (one record per SKU@LOCATION), channel_state (one per SKU),
and the upstream item master and policies every worker holds whole.

Values are raw bytes we encode ourselves (orjson for positions, Avro for items), so a changelog
record is exactly what the pure model produced. RocksDB's defaults (2 GiB block cache, 64 MiB
write buffers per partition) would explode with partitions; these are sized for many of them.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any, Awaitable, Callable

import faust

from streams.app import topics
from streams.app import app, settings, topic
from streams.wire.codec import DecodeError, default_codec
from streams.app.compat import TopicGlobalTable, partition_items
from streams.wire.registry import prepare_patiently
from tables import keys
from tables.catalog import Components, ItemError, check_item, check_kits
from tables.policy import Policies, PolicyError
from tables.policy_records import check_record, decode_policies, fingerprint, record_type


log = logging.getLogger(__name__)
LIMITS = settings.limits()


def rocksdb_options() -> dict[str, int]:
    # A fresh dict per table: Faust's store pops keys out of the one it is given.
    return {
        "block_cache_size": settings.rocksdb_block_cache_mb * 1024**2,
        "block_cache_compressed_size": 0,
        "write_buffer_size": settings.rocksdb_write_buffer_mb * 1024**2,
        "max_write_buffer_number": 2,
        "target_file_size_base": 16 * 1024**2,
    }


def partitioned_table(name: str, help: str) -> faust.Table:
    """A table with one RocksDB per partition of the keyed topics; bytes in, bytes out."""
    return app.Table(name, partitions=settings.partitions, key_type=bytes, value_type=bytes,
                     options=rocksdb_options(), help=help)


positions = partitioned_table(
    "positions", "SKU@LOCATION -> Position (orjson); SKU@LOCATION+id -> Reservation; expiry index")
# Open reservations are records of their own in the positions table, with an index of them by
# expiry (EXPIRY): one changelog partition keeps a position's writes and its reservations' in
# order (tables/position_records.py). Two tables would be two changelog topics, with no order
# between them.

# Faust keeps a table in memory only for a store URL that is true: "memory://" is an empty
# URL to yarl, so such tables silently got a RocksDB and every look-up cost RocksDB reads.
MEMORY = "memory://local"


def upstream_table(name: str, logical: str, help: str, on_change: Any = None) -> TopicGlobalTable:
    """Every worker holds all of an upstream topic (one partition), kept live
    (synchronize_all_active_partitions: no worker writes it). In memory, so every record passes
    through on_change at start and the indexes built from them are complete. One partition
    and a recovery buffer of one are what Faust's GlobalTable needs to recover reliably."""
    changelog = topic(logical)
    return app.tables.add(
        TopicGlobalTable(
            app, name=name, beacon=app.tables.beacon, key_type=bytes, value_type=bytes,
            partitions=1, changelog_topic=changelog, standby_buffer_size=1, recovery_buffer_size=1,
            is_global=True, synchronize_all_active_partitions=True, store=MEMORY,
            on_changelog_event=on_change, help=help,
        )
    )


Report = Callable[[Any, str, str], Awaitable[None]]  # (message, kind, reason): a refused record


class SideTopic:
    """A topic other systems write and every worker reads whole. A record that does not pass
    the checks `stockstream produce` and `policies apply` make is refused: the value in force
    before it stays, and `report` (agents/side_topics.py) counts and dead-letters it."""

    report: Report | None = None

    async def refuse(self, message: Any, kind: str, reason: str) -> None:
        log.warning("refused %s[%s]@%s: %s", message.topic, message.partition, message.offset, reason)
        if self.report is not None:
            await self.report(message, kind, reason)


class Catalog(SideTopic):
    """The item master as the engine reads it: items by SKU, and which kits use a component."""

    def __init__(self) -> None:
        self.kits: dict[str, Components] = {}  # kit -> [(component, qty)]
        self.used_in: dict[str, set[str]] = {}  # component -> kits
        # SKU key -> the value in force when a refused record replaced it in the table (None:
        # it had none); kept until a good record for the SKU arrives.
        self.kept: dict[bytes, bytes | None] = {}

    async def on_change(self, event: Any) -> None:
        """Called before the table applies the record (its previous value is still there)."""
        message = event.message
        await prepare_patiently(default_codec(), message.value)
        try:
            sku, components = self.check(message.key, message.value)
        except ItemError as err:
            if message.key not in self.kept:
                self.kept[message.key] = catalog.get(message.key)
            await self.refuse(message, f"{err.kind}:{err.field}", str(err))
            return
        self.kept.pop(message.key, None)
        self.set_components(sku, components)

    def check(self, key: bytes, value: bytes | None) -> tuple[str, Components]:
        try:
            sku = key.decode()
        except (UnicodeDecodeError, AttributeError):
            raise ItemError("(key)", f"{key!r} is not a UTF-8 SKU") from None
        if value is None:
            return sku, []  # a tombstone: the item is gone
        item = _decode_item(value)
        if item is None:
            raise ItemError("(value)", "is not an Avro Item")
        if item["sku"] != sku:
            raise ItemError("(key)", f"{sku!r} does not match the item's sku {item['sku']!r}")
        components = check_item(item, LIMITS)
        check_kits(sku, components, self.kits, self.used_in, LIMITS)
        return sku, components

    def set_components(self, sku: str, components: Components) -> None:
        for component, _ in self.kits.pop(sku, []):
            self.used_in.get(component, set()).discard(sku)
        if components:
            self.kits[sku] = components
            for component, _ in components:
                self.used_in.setdefault(component, set()).add(sku)


class PolicyCache(SideTopic):
    """The policies in force: every record of inventory.policies that passed the checks,
    decoded once per change."""

    def __init__(self) -> None:
        self._accepted: dict[bytes, bytes] = {}
        self._policies: Policies | None = None
        self._fingerprint: str | None = None

    async def on_change(self, event: Any) -> None:
        message = event.message
        await prepare_patiently(default_codec(), message.value)
        if message.value is None:
            self._accepted.pop(message.key, None)
        else:
            try:
                check_policy(message.key, message.value)
            except PolicyError as err:
                await self.refuse(message, f"invalid:{err.path}", f"policy {err}")
                return
            self._accepted[message.key] = message.value
        self._policies = self._fingerprint = None

    def get(self) -> Policies:
        if self._policies is None:
            self._policies = decode_policies(self._accepted, default_codec())
        return self._policies

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = fingerprint(self._accepted.items())
        return self._fingerprint


def check_policy(key: bytes, value: bytes) -> None:
    try:
        name = key.decode()
    except (UnicodeDecodeError, AttributeError):
        raise PolicyError("(key)", f"{key!r} is not UTF-8") from None
    kind = record_type(name)
    if kind is None:
        raise PolicyError("(key)", f"{name!r} is neither channel:NAME nor location:NAME")
    try:
        record = default_codec().decode(kind, value)
    except DecodeError as err:
        raise PolicyError("(value)", str(err)) from None
    check_record(name, record, LIMITS)


catalog_index = Catalog()
policy_cache = PolicyCache()
catalog = upstream_table("catalog", topics.CATALOG, "SKU -> Item (Avro)", catalog_index.on_change)
policies_table = upstream_table("policies", topics.POLICIES,
                                "channel:NAME / location:NAME -> ChannelPolicy / LocationPolicy (Avro)",
                                policy_cache.on_change)

reservation_requests = partitioned_table(
    "reservation_requests", "client/reservation id -> RequestRecord (orjson), on inventory.reservations' partitions")
FORGET = b"forget"  # index: when a closed or rejected reservation's record goes

channel_state = partitioned_table(
    "channel_state", "SKU -> SkuState (orjson): stock per location, kit components, each channel's output")
PENDING = b"pending"  # index: SKUs with an increase waiting for its time


def due_entries(table: Any, partition: int, kind: bytes, now_ms: int, limit: int) -> list[tuple[bytes, int, bytes]]:
    """(entry key, due at, subject) of the index entries of a kind due by now_ms, oldest first,
    in one partition of a table: a range read that stops at the first entry not due."""
    prefix = keys.due_prefix(kind)
    found = []
    for entry, _ in partition_items(table, partition, prefix):
        if not entry.startswith(prefix) or len(found) >= limit:
            break
        at, subject = keys.due_parts(kind, entry)
        if at > now_ms:
            break
        found.append((entry, at, subject))
    return found


def item_for(sku: str) -> dict[str, Any] | None:
    key = sku.encode()
    raw = catalog_index.kept[key] if key in catalog_index.kept else catalog.get(key)
    return _decode_item(raw) if raw else None


@lru_cache(maxsize=4096)
def _decode_item(raw: bytes) -> dict[str, Any] | None:
    try:
        return default_codec().decode("Item", raw)
    except DecodeError:
        return None  # an unreadable item is an unknown item: its units go to the DLQ
