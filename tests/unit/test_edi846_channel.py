"""agents/sinks/edi846.py: a file per send that an independent X12 reader accepts, control
numbers that keep increasing across channel instances (restarts), unknown SKUs refused."""

from __future__ import annotations

import asyncio

import pyx12.x12file

from agents.sinks.backlog import Update
from agents.sinks.edi846 import Edi846Channel
from agents.sinks.x12 import Party

ITEMS = {"SKU-1": "0001234", "SKU-2": "0005678"}


def update(sku: str, available: int) -> Update:
    return Update(sku=sku, available=available, version=1, published_at=0, partition=0, first_offset=0,
                  last_offset=0, shown=None)


def channel(directory) -> Edi846Channel:
    return Edi846Channel(str(directory), Party("ZZ", "STOCKSTREAM"), Party("ZZ", "RETAILER1"), ITEMS,
                         clock=lambda: 1795680000.0)


def controls(directory) -> list[int]:
    numbers = []
    for file in sorted(directory.glob("846-*.x12")):
        reader = pyx12.x12file.X12Reader(str(file))
        segments = list(reader)
        assert list(reader.pop_errors()) == []
        numbers.append(int(segments[0].get_value("ISA13")))
    return numbers


def test_files_parse_and_control_numbers_increase_across_restarts(tmp_path):
    first = channel(tmp_path)
    answer = asyncio.run(first.send([update("SKU-1", 5), update("NOPE", 1)]))
    assert [u.sku for u in answer.acknowledged] == ["SKU-1"]
    assert [u.sku for u, _ in answer.refused] == ["NOPE"]
    asyncio.run(first.send([update("SKU-2", 0)]))
    restarted = channel(tmp_path)  # a new process on the same directory
    asyncio.run(restarted.send([update("SKU-1", 7), update("SKU-2", 3)]))
    assert controls(tmp_path) == [1, 2, 3]
    assert not list(tmp_path.glob(".*.tmp"))  # nothing half-written left behind


def test_only_unknown_skus_write_no_file(tmp_path):
    answer = asyncio.run(channel(tmp_path).send([update("NOPE", 1)]))
    assert answer.refused and not list(tmp_path.glob("846-*"))
