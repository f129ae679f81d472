"""A switch down that holds the current layer back (Forwarder.select_layer ``hold``): the
subscriber's downlink cannot carry the layer it has, so nothing more of it goes out while the
smaller layer's keyframe is on its way; the stream then continues without a sequence gap."""

from __future__ import annotations

import itertools

from liveloop_sfu.media.core.drops import DropReason
from liveloop_sfu.media.core.seq import diff16
from tests.unit.media.core.test_temporal_layers import Call


def test_a_held_layer_stops_at_once_and_the_switch_continues_the_stream() -> None:
    call = Call(layer=2)
    call.frame("f", key=True)
    call.forwarder.select_layer(call.now, "bob", 0, hold=True)
    call.frame("f")  # held back: not forwarded
    call.frame("q")  # q's delta frame: not yet
    assert len(call.out) == 2
    assert call.forwarder.subscriber("bob").drops[DropReason.LAYER_TOO_LARGE] == 2
    call.frame("q", key=True)
    call.frame("f")
    call.frame("q")
    assert [o.rid for o in call.out] == ["f"] * 2 + ["q"] * 4
    assert all(diff16(b.seq, a.seq) == 1 for a, b in itertools.pairwise(call.out))
    assert call.forwarder.layer_of("bob") == (0, -1)


def test_cancelling_a_held_switch_resumes_the_current_layer_at_its_keyframe() -> None:
    call = Call(layer=2)
    call.frame("f", key=True)
    call.forwarder.select_layer(call.now, "bob", 0, hold=True)
    call.frame("f")  # held back
    call.forwarder.select_layer(call.now, "bob", 1)  # another target: f stays held
    call.frame("f")
    call.forwarder.select_layer(call.now, "bob", 2)  # the limit went away: back to f...
    call.frame("f")  # ...whose delta frames need the frames held back: not yet
    call.frame("f", key=True)
    call.frame("f")
    assert [o.key for o in call.out] == [True, False, True, False, False, False]
    assert all(o.rid == "f" for o in call.out)
    assert all(diff16(b.seq, a.seq) == 1 for a, b in itertools.pairwise(call.out))
    assert call.forwarder.layer_of("bob") == (2, -1)
