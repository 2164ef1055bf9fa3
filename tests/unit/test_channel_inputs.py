"""What the channel stage (agents/channels.py) takes from availability.components and
availability.control: a record of another shape is refused whole (dead-lettered as `decode`),
never kept in a SKU's state nor passed over without a trace."""

from __future__ import annotations

import orjson
import pytest

from agents.channels import component_update, marker_kind


def test_a_component_update_gives_its_component_and_values():
    update = {"component": "SKU-0", "channels": {"web": 4, "amazon": 0}, "event_id": "e1"}
    assert component_update(orjson.dumps(update)) == (update, "SKU-0", {"web": 4, "amazon": 0})


@pytest.mark.parametrize("value", [
    None, b"", b"{not json", b"[1, 2]", b'"text"',
    orjson.dumps({"channels": {"web": 1}}),  # no component
    orjson.dumps({"component": "", "channels": {}}),
    orjson.dumps({"component": ["SKU-0"], "channels": {}}),
    orjson.dumps({"component": "SKU-0"}),  # no channels
    orjson.dumps({"component": "SKU-0", "channels": "lots"}),  # stored, it failed every later record of a kit
    orjson.dumps({"component": "SKU-0", "channels": {"web": "3"}}),
    orjson.dumps({"component": "SKU-0", "channels": {"web": 2.5}}),
    orjson.dumps({"component": "SKU-0", "channels": {"web": True}}),
])
def test_a_component_update_of_another_shape_is_refused(value):
    with pytest.raises((ValueError, TypeError)):
        component_update(value)


def test_the_markers_the_stage_knows():
    assert marker_kind(b'{"kind": "tick"}') == ({"kind": "tick"}, "tick")
    assert marker_kind(b'{"kind": "policies", "fingerprint": "ab"}')[1] == "policies"


@pytest.mark.parametrize("value", [None, b"", b"\x00\x01", b"[]", b'{"fingerprint": "x"}',
                                   b'{"kind": "explode"}', b'{"kind": 7}', b'{"kind": null}'])
def test_a_marker_the_stage_does_not_know_is_refused(value):
    # {"kind": "explode"} used to pass without a dead letter: no trace it was ever there
    with pytest.raises((ValueError, TypeError, KeyError)):
        marker_kind(value)
