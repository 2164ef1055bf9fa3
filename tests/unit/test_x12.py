"""agents/sinks/x12.py: 846 interchanges that an independent X12 reader (pyx12) accepts, with
counts and control numbers that match, and the figures of every line."""

from __future__ import annotations

from datetime import datetime

import pytest
import pyx12.x12file
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.sinks.x12 import Line, Party, X12Error, inventory_advice

AT = datetime(2026, 11, 26, 8, 30)
SENDER, RECEIVER = Party("ZZ", "STOCKSTREAM"), Party("ZZ", "RETAILER1")


def read(tmp_path, text: str) -> tuple[list[list[str]], list]:
    """Segments as pyx12 reads them, and the errors it found."""
    file = tmp_path / "out.846"
    file.write_text(text)
    reader = pyx12.x12file.X12Reader(str(file))
    segments = [[seg.get_seg_id()] + [seg.get_value(f"{seg.get_seg_id()}{i:02d}") or "" for i in range(1, 7)]
                for seg in reader]
    return segments, list(reader.pop_errors())


def test_an_advice_reads_back_with_its_counts_and_figures(tmp_path):
    lines = [Line("SKU-1", "0001234", 12), Line("SKU-2", "0005678", 0)]
    segments, errors = read(tmp_path, inventory_advice(SENDER, RECEIVER, 7, AT, lines))
    assert errors == []
    ids = [s[0] for s in segments]
    assert ids == ["ISA", "GS", "ST", "BIA", "LIN", "QTY", "LIN", "QTY", "CTT", "SE", "GE", "IEA"]
    lin = [s for s in segments if s[0] == "LIN"]
    qty = [s for s in segments if s[0] == "QTY"]
    assert [(s[3], s[5]) for s in lin] == [("0001234", "SKU-1"), ("0005678", "SKU-2")]
    assert [(s[1], s[2], s[3]) for s in qty] == [("33", "12", "EA"), ("33", "0", "EA")]
    assert segments[ids.index("SE")][1] == "8"
    assert segments[ids.index("IEA")][2] == "000000007"


def test_a_wrong_count_is_what_the_independent_reader_catches(tmp_path):
    text = inventory_advice(SENDER, RECEIVER, 7, AT, [Line("SKU-1", "1", 3)]).replace("SE*6*", "SE*7*")
    assert read(tmp_path, text)[1]  # the check below would catch a miscount of ours


@pytest.mark.parametrize("line", [Line("SKU*1", "1", 1), Line("SKU-1", "A~B", 1)])
def test_a_value_holding_a_delimiter_is_refused(line):
    with pytest.raises(X12Error):
        inventory_advice(SENDER, RECEIVER, 1, AT, [line])


sku = st.text(st.sampled_from("ABCXYZ0123456789-_."), min_size=1, max_size=20)


@settings(max_examples=50, deadline=None)
@given(lines=st.lists(st.tuples(sku, sku, st.integers(-5, 10**9)), max_size=40),
       control=st.integers(1, 999_999_999))
def test_any_advice_passes_the_independent_reader(tmp_path_factory, lines, control):
    tmp_path = tmp_path_factory.mktemp("x12")
    segments, errors = read(tmp_path, inventory_advice(SENDER, RECEIVER, control, AT, [Line(*x) for x in lines]))
    assert errors == []
    assert sum(1 for s in segments if s[0] == "LIN") == len(lines)
    assert [int(s[2]) for s in segments if s[0] == "QTY"] == [max(x[2], 0) for x in lines]
