"""The aiortc/aioice private members the node relies on, in one list, and the one way it
replaces one on an instance.

Apart from the adapter (:mod:`.peer`) and the gatherer (:mod:`.ice_gathering`), which both hook
internals, so that the version-pin check (``tests/unit/media/transport/test_aiortc_hooks.py``
walks :data:`REQUIRED_HOOKS` against the installed aiortc/aioice/pylibsrtp) reads one list that
covers every internal any of them touches, and an upgrade that moves one fails there, not in a
call.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Hook:
    """One private aiortc/aioice member we rely on. ``params`` = expected parameter names of a
    method (without ``self``); ``None`` = an attribute a fresh instance must carry."""

    owner: str
    name: str
    params: tuple[str, ...] | None = None


REQUIRED_HOOKS: tuple[Hook, ...] = (
    Hook(
        "aiortc.rtcdtlstransport.RTCDtlsTransport", "_handle_rtp_data", ("data", "arrival_time_ms")
    ),
    Hook("aiortc.rtcdtlstransport.RTCDtlsTransport", "_handle_rtcp_data", ("data",)),
    Hook("aiortc.rtcdtlstransport.RTCDtlsTransport", "_rx_srtp"),
    Hook("aiortc.rtcdtlstransport.RTCDtlsTransport", "_tx_srtp"),
    Hook("aiortc.rtcdtlstransport.RTCDtlsTransport", "_state"),
    Hook("aiortc.rtcdtlstransport", "State"),
    Hook("pylibsrtp.Session", "_srtp"),
    Hook("pylibsrtp.Session", "_cdata"),
    Hook("pylibsrtp.Session", "_buffer"),
    Hook("pylibsrtp", "SRTP_MAX_TRAILER_LEN"),
    Hook("pylibsrtp", "SRTP_MAX_SRTCP_TRAILER_LEN"),
    Hook("pylibsrtp._binding.ffi", "new"),
    Hook("pylibsrtp._binding.lib", "srtp_protect"),
    Hook("pylibsrtp._binding.lib", "srtp_protect_rtcp"),
    Hook("pylibsrtp._binding.lib", "srtp_unprotect"),
    Hook("pylibsrtp._binding.lib", "srtp_unprotect_rtcp"),
    Hook("aiortc.rtcrtpsender.RTCRtpSender", "send", ("parameters",)),
    Hook("aiortc.rtcrtpsender.RTCRtpSender", "_ssrc"),
    Hook("aiortc.rtcrtpsender.RTCRtpSender", "_rtx_ssrc"),
    Hook("aiortc.rtcrtpsender.RTCRtpSender", "_stream_id"),
    Hook("aiortc.rtcrtpsender.RTCRtpSender", "_track_id"),
    Hook("aiortc.rtcrtpreceiver.RTCRtpReceiver", "receive", ("parameters",)),
    Hook("aiortc.rtcrtptransceiver.RTCRtpTransceiver", "_codecs"),
    Hook("aiortc.rtcrtptransceiver.RTCRtpTransceiver", "_headerExtensions"),
    Hook("aiortc.rtcicetransport.RTCIceTransport", "_connection"),
    Hook("aioice.ice.Connection", "gather_candidates", ()),
    Hook(
        "aioice.ice.Connection", "get_component_candidates", ("component", "addresses", "timeout")
    ),
    Hook("aioice.ice.Connection", "_components"),
    Hook("aioice.ice.Connection", "_local_candidates"),
    Hook("aioice.ice.Connection", "_local_candidates_start"),
    Hook("aioice.ice.Connection", "_local_candidates_end"),
    Hook("aioice.ice.Connection", "_protocols"),
    Hook("aioice.ice.Connection", "_nominated"),
    Hook("aioice.ice.StunProtocol", "__init__", ("receiver",)),
    Hook("aioice.ice.StunProtocol", "datagram_received", ("data", "addr")),
    Hook("aioice.ice.StunProtocol", "connection_made", ("transport",)),  # sets .transport
    Hook("aioice.ice.CandidatePair", "__init__", ("protocol", "remote_candidate")),
    Hook("aioice.ice.CandidatePair", "remote_addr"),
    Hook("aioice.ice.Connection", "_check_list"),
    Hook("aioice.ice", "server_reflexive_candidate", ("protocol", "stun_server")),
    Hook("aioice.turn", "UDP_SOCKET_BUFFER_SIZE"),
    Hook("aiortc.sdp", "candidate_from_sdp", ("sdp",)),
    Hook("aiortc.sdp.SessionDescription", "parse", ("sdp",)),
)


def override(obj: object, name: str, replacement: object) -> None:
    """Replace one member of one instance, loudly if aiortc moved it."""
    if not hasattr(obj, name):
        raise RuntimeError(f"aiortc hook missing: {type(obj).__name__}.{name}")
    setattr(obj, name, replacement)
