"""The recorder's frame assembler: reordering, loss, keyframe waiting (tables + properties)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from liveloop_sfu.media.core.seq import Unwrapper
from liveloop_sfu.media.recording.depacketizer import EncodedFrame, FrameAssembler
from liveloop_sfu.media.recording.depacketizer_opus import OpusParser
from liveloop_sfu.media.recording.depacketizer_vp8 import Vp8Parser

FAST = settings(max_examples=150, deadline=None)
TICKS = 3000  # 90 kHz / 30 fps


@dataclass(frozen=True)
class Pkt:
    seq: int
    ts: int
    marker: bool
    payload: bytes
    frame: int  # index of the frame it belongs to


def vp8_stream(frames: list[tuple[bool, int]], seq0: int = 0, ts0: int = 0) -> list[Pkt]:
    """Packets of VP8 frames given as (keyframe, packet count); bodies name frame and part."""
    out: list[Pkt] = []
    seq = seq0
    for index, (key, parts) in enumerate(frames):
        ts = (ts0 + index * TICKS) & 0xFFFFFFFF
        for part in range(parts):
            tag = (0x00 if key else 0x01) if part == 0 else 0xFF
            body = bytes([tag]) + f"f{index}p{part}".encode()
            descriptor = b"\x10" if part == 0 else b"\x00"
            out.append(Pkt(seq & 0xFFFF, ts, part == parts - 1, descriptor + body, index))
            seq += 1
    return out


def frame_bytes(frames: list[tuple[bool, int]], index: int) -> bytes:
    key, parts = frames[index]
    return b"".join(
        bytes([(0x00 if key else 0x01) if part == 0 else 0xFF]) + f"f{index}p{part}".encode()
        for part in range(parts)
    )


def run(assembler: FrameAssembler, packets: list[Pkt], now: float = 0.0) -> list[EncodedFrame]:
    out: list[EncodedFrame] = []
    for p in packets:
        out += assembler.push(now, p.seq, p.ts, p.marker, p.payload)
    return out + assembler.flush()


def index_of(frame: EncodedFrame, ts0: int = 0) -> int:
    return (frame.rtp_ts - ts0) // TICKS


def test_in_order_frames_come_out_whole() -> None:
    frames = [(True, 3), (False, 2), (False, 1)]
    out = run(FrameAssembler(Vp8Parser(), video=True), vp8_stream(frames))
    assert [f.data for f in out] == [frame_bytes(frames, i) for i in range(3)]
    assert [f.keyframe for f in out] == [True, False, False]


def test_a_stream_joined_mid_frame_waits_for_a_keyframe() -> None:
    frames = [(False, 2), (False, 2), (True, 2), (False, 1)]
    assembler = FrameAssembler(Vp8Parser(), video=True)
    assert assembler.wants_keyframe  # asks at once
    out = run(assembler, vp8_stream(frames)[1:])  # starts in the middle of frame 0
    assert [index_of(f) for f in out] == [2, 3]
    assert assembler.drops["incomplete-frame"] == 1
    assert assembler.drops["waiting-for-keyframe"] == 1


def test_a_hole_is_waited_for_then_declared_lost() -> None:
    frames = [(True, 2), (False, 2), (False, 1), (True, 1), (False, 1)]
    packets = vp8_stream(frames)
    assembler = FrameAssembler(Vp8Parser(), video=True, max_wait=0.3)
    assembler.wants_keyframe = False
    out: list[EncodedFrame] = []
    for p in packets[:3] + packets[4:]:  # packet 3 (frame 1's end) is lost
        out += assembler.push(0.0, p.seq, p.ts, p.marker, p.payload)
    assert [index_of(f) for f in out] == [0]
    assert assembler.get_timer() == 0.3
    assert assembler.poll(0.29) == []
    out = assembler.poll(0.3)
    # Frame 1 lost its end, frame 2 references it: nothing until the keyframe (frame 3).
    assert [index_of(f) for f in out] == [3, 4]
    assert assembler.wants_keyframe and assembler.drops["lost-packet"] == 1


def test_a_late_retransmission_fills_the_hole_in_time() -> None:
    frames = [(True, 2), (False, 3), (False, 1)]
    packets = vp8_stream(frames)
    assembler = FrameAssembler(Vp8Parser(), video=True)
    order = [0, 1, 2, 4, 5, 3]  # packet 3 arrives last (an RTX answering a NACK)
    out: list[EncodedFrame] = []
    for i, p in enumerate(packets[j] for j in order):
        out += assembler.push(i * 0.02, p.seq, p.ts, p.marker, p.payload)
    assert [f.data for f in out] == [frame_bytes(frames, i) for i in range(3)]
    assert not assembler.drops


def test_sequence_numbers_and_timestamps_wrap() -> None:
    frames = [(True, 2)] + [(False, 2)] * 5
    packets = vp8_stream(frames, seq0=0xFFFC, ts0=0xFFFFFFFF - TICKS)
    out = run(FrameAssembler(Vp8Parser(), video=True), packets)
    assert len(out) == 6
    assert [f.rtp_ts for f in out] == [0xFFFFFFFF - TICKS + i * TICKS for i in range(6)]


def test_audio_frames_survive_loss_without_waiting_for_anything() -> None:
    assembler = FrameAssembler(OpusParser(), video=False, max_wait=0.1)
    out = []
    for seq in (0, 1, 3, 4):
        out += assembler.push(seq * 0.02, seq, seq * 960, False, bytes([seq + 1]))
    out += assembler.poll(1.0)
    assert [f.data for f in out] == [b"\x01", b"\x02", b"\x04", b"\x05"]


def test_malformed_payload_breaks_only_its_frame_until_a_keyframe() -> None:
    frames = [(True, 2), (False, 2), (True, 1)]
    packets = vp8_stream(frames)
    bad = Pkt(packets[2].seq, packets[2].ts, False, b"\x80", 1)  # X without its byte
    out = run(FrameAssembler(Vp8Parser(), video=True), [packets[0], packets[1], bad, *packets[3:]])
    assert [index_of(f) for f in out] == [0, 2]


def test_a_restarted_sequence_is_followed_after_a_keyframe() -> None:
    frames = [(True, 1), (False, 1), (False, 1)]
    assembler = FrameAssembler(Vp8Parser(), video=True, max_packets=16)
    out = run(assembler, vp8_stream(frames, seq0=40000))
    restarted = [(True, 1), (False, 1)]
    out += run(assembler, vp8_stream(restarted, seq0=30000, ts0=90000))  # 10000 back
    assert len(out) == 5 and assembler.drops["sequence-restart"] == 1


def test_unwrapper_places_values_nearest_the_newest() -> None:
    unwrap = Unwrapper(16)
    assert [unwrap.unwrap(v) for v in (65534, 65535, 0, 1, 65535, 2)] == [
        65534,
        65535,
        65536,
        65537,
        65535,
        65538,
    ]
    assert unwrap.peek(3) == 65539


# --- properties ---------------------------------------------------------------------------

frame_lists = st.lists(st.tuples(st.booleans(), st.integers(1, 4)), min_size=1, max_size=25).map(
    lambda frames: [(True, frames[0][1]), *frames[1:]]
)


@FAST
@given(frames=frame_lists, seed=st.integers(0, 2**32), seq0=st.integers(0, 0xFFFF))
def test_any_reordering_within_the_window_yields_every_frame_in_order(
    frames: list[tuple[bool, int]], seed: int, seq0: int
) -> None:
    packets = vp8_stream(frames, seq0=seq0)
    rng = random.Random(seed)
    # Displace each packet by up to 5 places (jitter, retransmissions); the first one received
    # starts the sequence (anything older counts as before the recording).
    keyed = sorted(range(1, len(packets)), key=lambda i: i + rng.uniform(0, 5))
    shuffled = [packets[0]] + [packets[i] for i in keyed]
    out = run(FrameAssembler(Vp8Parser(), video=True), shuffled)
    assert [f.data for f in out] == [frame_bytes(frames, i) for i in range(len(frames))]


@FAST
@given(frames=frame_lists, lost=st.sets(st.integers(0, 100), max_size=10))
def test_loss_never_yields_a_broken_frame_or_a_frame_after_a_loss_without_a_keyframe(
    frames: list[tuple[bool, int]], lost: set[int]
) -> None:
    packets = vp8_stream(frames)
    kept = [p for i, p in enumerate(packets) if i not in lost]
    out = run(FrameAssembler(Vp8Parser(), video=True), kept)
    damaged = {packets[i].frame for i in lost if i < len(packets)}
    produced = [index_of(f) for f in out]
    assert produced == sorted(set(produced))
    for frame, index in zip(out, produced, strict=True):
        assert index not in damaged
        assert frame.data == frame_bytes(frames, index)
    # Video: after a damaged frame, the next frame out is a keyframe.
    for index in produced:
        if any(d < index for d in damaged):
            last_damage = max(d for d in damaged if d < index)
            first_after = min(i for i in produced if i > last_damage)
            assert frames[first_after][0], (frames, lost, produced)
