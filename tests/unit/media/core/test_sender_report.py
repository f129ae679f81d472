"""Sender-report state: counts of what was sent, NTP/RTP pairing, RTT from LSR/DLSR."""

from __future__ import annotations

from liveloop_sfu.media.core.rtp import ntp_from_unix, ntp_middle32
from liveloop_sfu.media.core.sender_report import SenderReportState


def test_nothing_sent_no_timestamp() -> None:
    assert SenderReportState(90000).rtp_timestamp_at(1.0, 0) is None


def test_counts_and_extrapolation_from_newest_packet() -> None:
    state = SenderReportState(90000)
    state.on_sent(0.0, 1000, 100)
    state.on_sent(0.1, 10000, 200)
    state.on_sent(0.2, 7000, 50)  # reordered older packet does not move the reference
    assert (state.packet_count, state.octet_count) == (3, 350)
    assert state.rtp_timestamp_at(0.5, 0) == 10000 + 36000


def test_extrapolation_wraps() -> None:
    state = SenderReportState(48000)
    state.on_sent(0.0, 0xFFFFFFFF, 10)
    assert state.rtp_timestamp_at(1.0, 0) == 47999


def test_publisher_sr_mapping_shifted_by_offset() -> None:
    state = SenderReportState(90000)
    state.on_sent(0.0, 5, 10)
    state.on_publisher_sr(2.0, 900_000)
    # publisher's timestamp at 2.0 was 900_000; 0.5 s later, shifted by the offset 100
    assert state.rtp_timestamp_at(2.5, 100) == 900_000 + 45_000 + 100
    assert state.rtp_timestamp_at(2.5, -900_000) == 45_000


def test_rtt_from_lsr_dlsr() -> None:
    state = SenderReportState(90000)
    ntp = ntp_from_unix(1_700_000_000.25)
    state.on_report_sent(10.0, ntp)
    # receiver held it 0.5 s (DLSR in 1/65536 s); arrives back at 10.6 -> RTT 0.1
    rtt = state.rtt(10.6, ntp_middle32(ntp), 32768)
    assert rtt is not None
    assert abs(rtt - 0.1) < 1e-9
    assert state.rtt(10.6, 0, 0) is None
    assert state.rtt(10.6, 12345, 0) is None


def test_only_recent_reports_remembered() -> None:
    state = SenderReportState(90000)
    for i in range(10):
        state.on_report_sent(float(i), (i + 1) << 16)
    assert state.rtt(20.0, 1, 0) is None  # the first two were forgotten
    assert state.rtt(20.0, 3, 0) == 18.0
