"""Tables on disk survive a clean stop only (streams/app/local_state.py)."""

from __future__ import annotations

from streams.app import local_state


def test_tables_are_kept_after_a_clean_stop_and_removed_after_any_other(tmp_path):
    tables = tmp_path / "tables"
    assert local_state.prepare(tables) is False  # nothing there yet: nothing to do
    (tables / "positions-0.db").mkdir(parents=True)
    local_state.mark_clean(tables)
    assert local_state.prepare(tables) is True
    assert (tables / "positions-0.db").is_dir()
    assert not (tables / local_state.CLEAN).exists()  # a crash from here on leaves no mark
    assert local_state.prepare(tables) is False
    assert not tables.exists()
