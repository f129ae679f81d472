"""Active speaker: tables of who talks when, and the decisions (with hysteresis) they give."""

from __future__ import annotations

import itertools
import struct

import pytest

from liveloop_sfu.media.sfu.active_speaker import ActiveSpeakerDetector, read_audio_level

PACKET = 0.02  # 20 ms Opus frames: 50 levels per second per talker

# (from, to, participant, level in -dBov) — each talker sends one level per packet.
Talk = tuple[float, float, str, int]


def run(script: list[Talk], until: float, leave: tuple[float, str] | None = None) -> list[str]:
    """Feed the script in time order; return the changes as "t=<seconds>:<participant>"."""
    detector = ActiveSpeakerDetector()
    changes = []
    for step in range(round(until / PACKET)):
        now = round(step * PACKET, 6)
        if leave is not None and abs(now - leave[0]) < 1e-9:
            detector.remove(leave[1])
        for start, end, participant, level in script:
            if start <= now < end:
                new = detector.on_level(now, participant, level)
                if new is not None:
                    changes.append(f"t={now:.2f}:{new}")
    return changes


@pytest.mark.parametrize(
    ("script", "until", "expected"),
    [
        # One talker: it becomes the speaker after the 0.5 s hold.
        ([(0, 3, "A", 20)], 3, ["t=0.60:A"]),
        # Background noise (-90 dBov) is never speech.
        ([(0, 3, "A", 90), (0, 3, "B", 85)], 3, []),
        # A talks; B coughs (0.3 s, louder) — shorter than the hold: no change.
        ([(0, 4, "A", 30), (1.5, 1.8, "B", 10)], 4, ["t=0.60:A"]),
        # A stops (DTX: no packets), B starts: B takes over once its hold has passed.
        ([(0, 2, "A", 30), (2.5, 5, "B", 30)], 5, ["t=0.60:A", "t=3.10:B"]),
        # Both talk, B only 3 dB louder than A (less than the 6 dB margin): A keeps it.
        ([(0, 4, "A", 30), (1, 4, "B", 27)], 4, ["t=0.60:A"]),
        # B clearly louder (10 dB) for long: B takes over.
        ([(0, 4, "A", 30), (1, 4, "B", 20)], 4, ["t=0.60:A", "t=1.60:B"]),
        # A silent speaker keeps the role through a pause (nobody else talks).
        ([(0, 1, "A", 30), (2, 3, "A", 30)], 3, ["t=0.60:A"]),
    ],
)
def test_decisions(script: list[Talk], until: float, expected: list[str]) -> None:
    assert run(script, until) == expected


def test_rapid_alternation_does_not_flicker() -> None:
    # A and B take turns every 0.4 s for 10 s: shorter than the hold, so nobody is announced
    # after the first decision... and never more often than once per min_interval.
    script: list[Talk] = []
    for turn in range(25):
        start = turn * 0.4
        script.append((start, start + 0.4, "A" if turn % 2 == 0 else "B", 20))
    changes = run(script, 10)
    assert len(changes) <= 1


def test_turns_longer_than_the_hold_switch_at_most_once_per_interval() -> None:
    script: list[Talk] = [
        (0.0, 1.2, "A", 20),
        (1.2, 2.4, "B", 20),
        (2.4, 3.6, "A", 20),
        (3.6, 4.8, "B", 20),
    ]
    changes = run(script, 5)
    times = [float(change[2:].split(":")[0]) for change in changes]
    assert [c.split(":")[1] for c in changes] == ["A", "B", "A", "B"]
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(times))


def test_a_departed_speaker_is_forgotten_and_the_next_one_announced() -> None:
    script: list[Talk] = [(0, 2, "A", 20), (0, 4, "B", 40)]
    # A is louder; it leaves at t=2; B (still talking) is announced after its own hold.
    assert run(script, 4, leave=(2.0, "A")) == ["t=0.60:A", "t=2.50:B"]


def _rtp(extension: bytes | None, profile: int = 0xBEDE) -> bytes:
    header = struct.pack("!BBHII", 0x90 if extension is not None else 0x80, 111, 1, 960, 7)
    if extension is None:
        return header + b"\xf8\xff"
    padded = extension + b"\x00" * (-len(extension) % 4)
    return header + struct.pack("!HH", profile, len(padded) // 4) + padded + b"\xf8\xff"


@pytest.mark.parametrize(
    ("packet", "ext_id", "expected"),
    [
        (_rtp(bytes([0x10, 0x80 | 33])), 1, 33),  # one-byte form, V bit set
        (_rtp(bytes([0x10, 33])), 1, 33),
        (_rtp(bytes([0x21, 0xAA, 0xBB, 0x10, 127])), 1, 127),  # after another element
        (_rtp(bytes([0x10, 33])), 2, None),  # not negotiated under that id
        (_rtp(None), 1, None),  # no extension at all
        (_rtp(bytes([0x01, 0x01, 45]), profile=0x1000), 1, 45),  # two-byte form
        (b"\x90\x6f\x00", 1, None),  # malformed
    ],
)
def test_read_audio_level(packet: bytes, ext_id: int, expected: int | None) -> None:
    assert read_audio_level(packet, ext_id) == expected
