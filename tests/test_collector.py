"""The publisher pauses the cyclic collector around its big builds and restores it after."""

from __future__ import annotations

import gc

import pytest

from kanalwerk.publish.collector import collector_frozen, collector_paused


def test_paused_collector_is_restored_even_after_an_error() -> None:
    assert gc.isenabled()
    with pytest.raises(ValueError), collector_paused():
        assert not gc.isenabled()
        raise ValueError("boom")
    assert gc.isenabled()


def test_paused_inside_a_paused_block_leaves_it_paused() -> None:
    with collector_paused():
        with collector_paused():
            pass
        assert not gc.isenabled()
    assert gc.isenabled()


def test_frozen_objects_are_released_after_the_block() -> None:
    before = gc.get_freeze_count()
    with collector_frozen():
        assert gc.get_freeze_count() > before
    assert gc.get_freeze_count() == before
