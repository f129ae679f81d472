"""The adapter drives libsrtp through pylibsrtp's binding directly (no per-packet allocation):
its output must be byte for byte what pylibsrtp's own Session methods produce, and it must
reject what they reject."""

from __future__ import annotations

import pytest
from pylibsrtp import Error, Policy, Session

from liveloop_sfu.media.core.rtp import build_rr, build_rtp
from liveloop_sfu.media.transport.srtp.packet_io import SrtpContext as _Srtp

KEY = bytes(range(30))  # AES_CM_128_HMAC_SHA1_80: 16-byte key + 14-byte salt


def session(direction: int) -> Session:
    return Session(policy=Policy(key=KEY, ssrc_type=direction))


def packets() -> list[bytes]:
    rtp = [
        build_rtp(pt=96, seq=seq, ts=seq * 3000, ssrc=0x1234, payload=bytes([seq]) * 900)
        for seq in range(5)
    ]
    return [*rtp, build_rr(0x1234, [])]


def test_protect_matches_pylibsrtp() -> None:
    ours = _Srtp(session(Policy.SSRC_ANY_OUTBOUND))
    theirs = session(Policy.SSRC_ANY_OUTBOUND)
    for packet in packets():
        expected = theirs.protect_rtcp(packet) if 191 < packet[1] < 209 else theirs.protect(packet)
        assert ours.protect(packet) == expected


def test_unprotect_restores_what_pylibsrtp_protected() -> None:
    sender = session(Policy.SSRC_ANY_OUTBOUND)
    ours = _Srtp(session(Policy.SSRC_ANY_INBOUND))
    for packet in packets():
        if 191 < packet[1] < 209:
            assert ours.unprotect_rtcp(sender.protect_rtcp(packet)) == packet
        else:
            assert ours.unprotect_rtp(sender.protect(packet)) == packet


def test_forged_replayed_and_oversized_packets_are_rejected() -> None:
    sender = session(Policy.SSRC_ANY_OUTBOUND)
    ours = _Srtp(session(Policy.SSRC_ANY_INBOUND))
    protected = sender.protect(packets()[0])
    forged = protected[:-1] + bytes([protected[-1] ^ 1])
    with pytest.raises(Error):
        ours.unprotect_rtp(forged)
    assert ours.unprotect_rtp(protected) == packets()[0]
    with pytest.raises(Error):
        ours.unprotect_rtp(protected)  # replay (RFC 3711 §3.3.2)
    with pytest.raises(ValueError, match="too long"):
        _Srtp(session(Policy.SSRC_ANY_OUTBOUND)).protect(bytes([0x80, 96]) + bytes(1498))
