"""A switch down that holds the current layer back (Forwarder.select_layer ``hold``): the
subscriber's downlink cannot carry the layer it has, so nothing more of it goes out while the
smaller layer's keyframe is on its way; the stream then continues without a sequence gap."""

from __future__ import annotations

import itertools

from liveloop_sfu.media.core.drops import DropReason
from liveloop_sfu.media.core.forwarder import SendToSubscriber
from liveloop_sfu.media.core.rtcp import Nack
from liveloop_sfu.media.core.seq import diff16
from tests.unit.media.core.test_temporal_layers import OUT_SSRC, Call


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


def nack(call: Call, *seqs: int) -> list[bytes]:
    actions = call.forwarder.on_subscriber_rtcp(call.now, "bob", [Nack(1, OUT_SSRC, seqs)])
    return [a.packet for a in actions if isinstance(a, SendToSubscriber)]


def test_nacks_for_the_old_layer_are_not_answered_once_it_is_held_or_switched() -> None:
    call = Call(layer=2)
    call.frame("f", key=True)
    call.frame("f")
    old = [o.seq for o in call.out]
    assert len(nack(call, old[-1])) == 1  # before any switch: resent
    call.forwarder.select_layer(call.now, "bob", 0, hold=True)
    assert nack(call, *old) == []  # held back for q: f's packets will never be decoded
    call.frame("q", key=True)
    call.frame("q")
    new = [o.seq for o in call.out[len(old) :]]
    assert nack(call, *old) == []  # q began at its keyframe: f's packets are stale
    assert len(nack(call, *new)) == len(new)  # q's are resent
    stats = call.forwarder.subscriber("bob").stats
    assert stats.nack_stale == 2 * len(old)
