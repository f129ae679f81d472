"""Receiver-report statistics (RFC 3550 A.1, A.3, A.8, §6.4.1), time as a parameter."""

from __future__ import annotations

import pytest

from liveloop_sfu.media.core.reception import ReceptionStats
from liveloop_sfu.media.core.rtp import build_rr, ntp_middle32

SSRC = 0x1234
CLOCK = 90_000
FRAME = 3000  # 30 fps at 90 kHz


def feed(stats: ReceptionStats, seqs: list[int], start_ts: int = 0) -> None:
    """Packets at a perfect 30 fps pace: packet i sent at ts start + i*FRAME, arrives at i/30 s."""
    for i, seq in enumerate(seqs):
        stats.on_packet(i / 30, SSRC, seq & 0xFFFF, (start_ts + i * FRAME) & 0xFFFFFFFF)


@pytest.mark.parametrize(
    ("seqs", "lost", "fraction", "highest"),
    [
        ([100, 101, 102, 103], 0, 0, 103),
        # 2 of 10 lost: fraction = 2 * 256 // 10.
        ([0, 1, 2, 4, 5, 6, 8, 9], 2, 51, 9),
        # Reordered, nothing lost.
        ([10, 12, 11, 13], 0, 0, 13),
        # Sequence wraps: one cycle counted in the extended highest sequence number.
        ([65534, 65535, 0, 1], 0, 0, 65536 + 1),
        # A duplicate counts as received (RFC 3550 A.3), so cumulative loss goes negative.
        ([5, 6, 6, 7], -1, 0, 7),
    ],
)
def test_loss_and_highest_sequence(seqs: list[int], lost: int, fraction: int, highest: int) -> None:
    stats = ReceptionStats(CLOCK)
    feed(stats, seqs)
    block = stats.report_block(1.0)
    assert block is not None
    assert (block.ssrc, block.packets_lost, block.fraction_lost, block.highest_seq) == (
        SSRC,
        lost,
        fraction,
        highest,
    )


def test_fraction_lost_is_per_interval() -> None:
    stats = ReceptionStats(CLOCK)
    feed(stats, [0, 1, 3])  # 1 of 4 lost
    first = stats.report_block(1.0)
    stats.on_packet(2.0, SSRC, 4, 0)
    stats.on_packet(2.1, SSRC, 5, 0)
    second = stats.report_block(3.0)
    assert first is not None and second is not None
    assert first.fraction_lost == 64
    assert (second.fraction_lost, second.packets_lost) == (0, 1)


def test_no_block_before_any_packet_and_other_ssrcs_are_ignored() -> None:
    stats = ReceptionStats(CLOCK, ssrc=SSRC)
    assert stats.report_block(0.0) is None
    stats.on_packet(0.0, SSRC + 1, 7, 0)
    assert stats.report_block(0.0) is None


def test_jitter_is_zero_for_a_perfectly_paced_stream() -> None:
    stats = ReceptionStats(CLOCK)
    feed(stats, list(range(50)), start_ts=0xFFFF0000)  # timestamps wrap too
    block = stats.report_block(2.0)
    assert block is not None and block.jitter == 0


def test_jitter_follows_the_rfc_estimator() -> None:
    stats = ReceptionStats(CLOCK)
    stats.on_packet(0.0, SSRC, 1, 0)
    # Sent one frame later, arrives 10 ms late: D = 0.01 * 90000 = 900 units, J = 900 / 16.
    stats.on_packet(1 / 30 + 0.01, SSRC, 2, FRAME)
    block = stats.report_block(1.0)
    assert block is not None and block.jitter == int(900 / 16)


def test_lsr_and_dlsr_come_from_the_last_sender_report() -> None:
    stats = ReceptionStats(CLOCK)
    stats.on_packet(0.0, SSRC, 1, 0)
    ntp = (3_900_000_000 << 32) | 0x80000000
    stats.on_sender_report(10.0, SSRC, ntp)
    stats.on_sender_report(10.0, SSRC + 1, 0)  # about another stream: ignored
    block = stats.report_block(10.5)
    assert block is not None
    assert block.lsr == ntp_middle32(ntp)
    assert block.dlsr == 32768  # 0.5 s in 1/65536 s units


def test_dlsr_is_never_negative_when_the_sender_report_is_newer_than_now() -> None:
    # The session builds receiver reports with the time its tick started, and a sender report
    # may arrive (stamped with its own, later arrival time) while that tick awaits a send: the
    # delay since that report is then 0, not negative (RFC 3550 §6.4.1: DLSR is a delay), and
    # the report block must still pack into a receiver report.
    stats = ReceptionStats(CLOCK)
    stats.on_packet(0.0, SSRC, 1, 0)
    stats.on_sender_report(10.2, SSRC, (3_900_000_000 << 32) | 0x80000000)
    block = stats.report_block(10.0)
    assert block is not None
    assert block.dlsr == 0
    assert len(build_rr(0x5678, [block])) == 32  # header 8 + one 24-byte report block
