"""The node's end of one browser's WebRTC connection, on aiortc — without codecs.

This is the ONLY module that touches aiortc/aioice internals, together with its compiled
per-packet half :mod:`.packet_io` (SRTP, socket reads, sends), which only uses the objects this
module hands it, and its candidate gatherer :mod:`.ice_gathering`
(:data:`.hooks.REQUIRED_HOOKS` lists every internal any of them relies on, and
``tests/unit/media/transport/test_aiortc_hooks.py`` fails when an upgrade moves one). aiortc has no
raw-RTP API: its receiver always feeds a jitter buffer and a decoder thread, its sender always pulls
frames from a track and encodes them. A forwarding node wants neither, so per connection we:

* take SRTP/SRTCP datagrams straight off the UDP socket (RFC 7983 demultiplexing, first byte
  128..191): each ICE socket's ``StunProtocol.datagram_received`` is wrapped so that, once the
  DTLS handshake has produced the SRTP keys, media skips aioice's STUN parse, its per-datagram
  ``asyncio.Queue`` and aiortc's receive task, is decrypted with the transport's SRTP session and
  handed to a *synchronous* handler as bytes — never parsed into ``RtpPacket`` objects, never
  depacketized, never decoded, no await and no task switch per packet (STUN and DTLS still take
  aioice's and aiortc's own path);
* replace ``RTCDtlsTransport._handle_rtp_data`` / ``_handle_rtcp_data`` as well (the same
  handlers), for packets that still come through aiortc's receive task;
* replace ``RTCRtpReceiver.receive`` and ``RTCRtpSender.send`` by no-ops, so no decoder thread,
  no encoder, and none of aiortc's per-stream RTCP tasks are ever started — the forwarding core
  owns sender reports, receiver feedback and retransmissions;
* send synchronously: SRTP-protect with the transport's session and hand the datagram to the
  nominated pair's UDP transport (what ``RTCDtlsTransport._send_rtp`` does through four nested
  coroutines);
* replace aioice's ``Connection.gather_candidates`` so the node offers the operator's addresses
  (loopback included), in the operator's UDP port range, under the announced address;
* guard those media sockets (:class:`.ice_gathering.GuardedStunProtocol`): aioice hands *any*
  non-STUN datagram from *any* address to DTLS, and aiortc's DTLS receive loop dies on an empty
  one (``data[0]``), so a single empty UDP datagram from a stranger would end a call.

Only instances created here are modified; aiortc peers elsewhere in the process (test clients)
keep their normal behaviour.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aioice import ice
from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpHeaderExtensionParameters,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc import sdp as aiortc_sdp
from aiortc.exceptions import InvalidStateError, OperationError
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcicetransport import RTCIceTransport
from aiortc.rtcrtpparameters import RTCRtcpFeedback
from aiortc.rtcrtptransceiver import RTCRtpTransceiver

from liveloop_sfu.errors import InvalidPayload
from liveloop_sfu.media.core.rewriter import REPAIRED_RID_URI, RID_URI, TRANSPORT_CC_URI
from liveloop_sfu.media.core.transport_feedback import TransportFeedbackBuilder
from liveloop_sfu.media.settings import MediaSettings
from liveloop_sfu.media.transport.hooks import override
from liveloop_sfu.media.transport.ice_gathering import drained_socket, install_gatherer, raw_socket
from liveloop_sfu.media.transport.negotiated import Codec, MediaLine
from liveloop_sfu.media.transport.simulcast import (
    SimulcastOffer,
    answer_simulcast,
    read_simulcast,
)
from liveloop_sfu.media.transport.srtp.packet_io import PacketHandler, PeerIo, SocketReader

logger = logging.getLogger(__name__)

# connection state: "connected" | "failed" | "closed"
StateHandler = Callable[[str], None]
# [(mid, kind)] of the m-lines the node may send on (the browser offered recvonly or sendrecv),
# in m-line order -> {mid: (msid stream id, msid track id)} of those that carry a track; the
# others are answered receive-only / inactive.
SendPlan = Callable[[Sequence[tuple[str, str]]], Mapping[str, tuple[str, str]]]

MAX_PENDING_CANDIDATES = 64


async def _noop_start(parameters: object) -> None:
    """Stands in for RTCRtpSender.send / RTCRtpReceiver.receive: starting them would create the
    encoder task / decoder thread and aiortc's own RTCP loops."""


class NodePeer:
    """The node's RTCPeerConnection with one browser: answers offers, moves RTP/RTCP bytes."""

    def __init__(
        self,
        settings: MediaSettings,
        label: str,
        *,
        sender_ssrcs: Mapping[str, tuple[int, int | None]] | None = None,
    ) -> None:
        """``sender_ssrcs``: {mid: (SSRC, RTX SSRC)} the node sends with on those m-lines
        instead of new random ones — a connection replacing another (an ICE restart) keeps the
        browser's receive streams."""
        self.label = label
        self._settings = settings
        self._sender_ssrcs = dict(sender_ssrcs or {})
        servers = [_ice_server(server.to_wire()) for server in settings.ice_servers]
        # An explicit empty list: with None aiortc falls back to a public Google STUN server.
        # max-bundle: every transceiver shares the first one's transport from the start. (With
        # aiortc's default "balanced", a second m-line of a kind reuses its kind's transport, is
        # marked bundled, and is left on a transport the BUNDLE step then stops.)
        self._pc = RTCPeerConnection(
            RTCConfiguration(iceServers=servers, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )
        self._pc.on("connectionstatechange", self._on_connection_state)
        self._hooked: set[int] = set()
        self._transport: RTCDtlsTransport | None = None  # the one BUNDLE transport
        self._pending_candidates: list[Mapping[str, Any] | None] = []
        self._closed = False
        self.state = "new"
        self.media: tuple[MediaLine, ...] = ()
        self.on_state: StateHandler | None = None
        # The per-packet half (compiled, media/transport/srtp/packet_io.py): handlers, SRTP, sends.
        self._io = PeerIo(label, DtlsState.CONNECTED, _locate)
        # The hot path calls this once per packet per subscriber: bound to the compiled
        # PeerIo.send directly, not through a method of this class (one Python call less).
        self.send_now: Callable[[bytes], bool] = self._io.send

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def remote_sdp(self) -> str | None:
        """The browser's offer this connection last applied (None before the first)."""
        description = self._pc.remoteDescription
        return None if description is None else str(description.sdp)

    def record_transport_wide(self, ext_id: int, builder: TransportFeedbackBuilder | None) -> None:
        """Record every RTP packet's transport-wide sequence number (header extension
        ``ext_id``, 0 = none) and kernel arrival time into ``builder``, for the transport
        feedback the session sends (media/sfu/transport_cc.py)."""
        self._io.transport_cc_id = ext_id if builder is not None else 0
        self._io.transport_feedback = builder

    @property
    def on_rtp(self) -> PacketHandler | None:
        """Called synchronously with each decrypted RTP packet and its arrival time."""
        return self._io.on_rtp

    @on_rtp.setter
    def on_rtp(self, handler: PacketHandler | None) -> None:
        self._io.on_rtp = handler

    @property
    def on_rtcp(self) -> PacketHandler | None:
        """Called synchronously with each decrypted compound RTCP packet and its arrival time."""
        return self._io.on_rtcp

    @on_rtcp.setter
    def on_rtcp(self, handler: PacketHandler | None) -> None:
        self._io.on_rtcp = handler

    @property
    def srtp_errors(self) -> int:
        """Datagrams that failed SRTP authentication / decryption."""
        return self._io.srtp_errors

    async def answer(self, offer_sdp: str, plan: SendPlan) -> str:
        """Apply the browser's offer and return the node's answer (candidates included: the node
        gathers its host candidates before answering, it never trickles)."""
        if self._closed:
            raise InvalidPayload("the connection to the node is closed")
        offer = _parse_offer(offer_sdp)
        _check_offer(offer)
        simulcast = read_simulcast(offer_sdp)
        try:
            await self._pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        except (ValueError, LookupError, OperationError, InvalidStateError) as exc:
            raise InvalidPayload(f"unusable SDP offer: {exc}") from exc
        # __connect was scheduled by setRemoteDescription but has not run yet: install the hooks
        # now, before any await, so no encoder/decoder can start.
        self._install_hooks(plan, {m.rtp.muxId: m.direction for m in offer.media})
        self._accept_transport_cc(offer)
        simulcast = self._accept_simulcast(offer, simulcast)
        try:
            answer = await self._pc.createAnswer()
            await self._pc.setLocalDescription(answer)
        except InvalidStateError as exc:  # closed while gathering
            raise InvalidPayload("the connection to the node is closed") from exc
        self._hook_sockets()  # gathering (in setLocalDescription) has opened them
        self.media = self._read_media(simulcast)
        for candidate in self._pending_candidates:
            await self._add_candidate(candidate)
        self._pending_candidates.clear()
        # aiortc applied its own answer (it knows nothing of simulcast); the browser gets it with
        # the receive side of the simulcast it offered (media/transport/simulcast.py).
        return answer_simulcast(str(self._pc.localDescription.sdp), simulcast)

    async def add_candidate(self, init: Mapping[str, Any] | None) -> None:
        """A trickled RTCIceCandidateInit from the browser (``None`` or an empty candidate string
        = end of candidates). Candidates that arrive before the offer wait for it."""
        if self._closed:
            return
        if self._pc.remoteDescription is None:
            if len(self._pending_candidates) < MAX_PENDING_CANDIDATES:
                self._pending_candidates.append(init)
            return
        await self._add_candidate(init)

    async def send(self, data: bytes) -> bool:
        """:attr:`send_now` for callers in a coroutine (kept for the RTCP/report paths):
        SRTP-protect and send one RTP packet or compound RTCP packet, synchronously (no await,
        no task switch); False if the transport is not (or no longer) connected."""
        return self.send_now(data)

    async def close(self) -> None:
        """Idempotent. Closes the peer connection (ICE sockets, DTLS) and forgets the callbacks."""
        if self._closed:
            return
        self._closed = True
        self.on_rtp = self.on_rtcp = None
        self.on_state = None
        self._pending_candidates.clear()
        await self._pc.close()
        self._transport = self._io.transport = None
        self._io.forget_egress()

    # -- hooks -------------------------------------------------------------------------------

    def _install_hooks(self, plan: SendPlan, offered: Mapping[str, str | None]) -> None:
        transceivers = self._pc.getTransceivers()
        # Where the browser can receive, the node may send (the offer's direction is the
        # browser's: recvonly / sendrecv).
        slots = [
            (str(t.mid), t.kind)
            for t in transceivers
            if offered.get(str(t.mid)) in ("recvonly", "sendrecv")
        ]
        labels = plan(slots)
        for transceiver in transceivers:
            self._hook_transceiver(transceiver, labels.get(str(transceiver.mid)))
            transport = transceiver.receiver.transport
            if id(transport) not in self._hooked:
                self._hooked.add(id(transport))
                self._hook_transport(transport)

    def _hook_transceiver(
        self, transceiver: RTCRtpTransceiver, label: tuple[str, str] | None
    ) -> None:
        sender: RTCRtpSender = transceiver.sender
        receiver: RTCRtpReceiver = transceiver.receiver
        if id(sender) not in self._hooked:
            self._hooked.add(id(sender))
            override(sender, "send", _noop_start)
            override(receiver, "receive", _noop_start)
            # Before createAnswer, which writes them into the answer's a=ssrc lines.
            ssrc, rtx_ssrc = self._sender_ssrcs.get(str(transceiver.mid), (None, None))
            if ssrc is not None:
                override(sender, "_ssrc", ssrc)
            if rtx_ssrc is not None:
                override(sender, "_rtx_ssrc", rtx_ssrc)
        if label is None:
            transceiver.direction = "recvonly"
        else:
            transceiver.direction = "sendrecv"
            # DESIGN wire contract: msid = "<owner's participantId> <owner's track id>".
            override(sender, "_stream_id", label[0])
            override(sender, "_track_id", label[1])

    def _accept_transport_cc(self, offer: aiortc_sdp.SessionDescription) -> None:
        """Answer transport-wide congestion control where the browser offers it
        (draft-holmer-rmcat-transport-wide-cc-extensions-01): its header extension, with the
        browser's id, and ``a=rtcp-fb:<pt> transport-cc`` on the codecs it was offered for.

        aiortc 1.16 knows neither, and its global ``CODECS`` / ``HEADER_EXTENSIONS`` stay as they
        are: only this connection's transceivers (what setRemoteDescription just negotiated, what
        createAnswer writes) get them, so aiortc clients in the same process are unchanged. With
        it the browser's sender estimates its uplink from the node's transport feedback
        (media/sfu/transport_cc.py), and the browser sends transport feedback about what the
        node sends it, whose packets carry the node's own transport-wide sequence numbers."""
        remote_by_mid = {m.rtp.muxId: m for m in offer.media}
        for transceiver in self._pc.getTransceivers():
            remote = remote_by_mid.get(str(transceiver.mid))
            if remote is not None:
                _accept_transport_cc(transceiver, remote)

    def _accept_simulcast(
        self, offer: aiortc_sdp.SessionDescription, simulcast: Mapping[str, SimulcastOffer]
    ) -> dict[str, SimulcastOffer]:
        """Answer simulcast (RFC 8853) on the m-lines that offer it with the RID header
        extension (RFC 8852 §3.1), which the node needs to tell the layers apart: that extension
        and repaired-RID (§3.2, RTX of a layer) join the transceiver's negotiated extensions, with
        the browser's ids, on this connection only (as transport-cc, above). An m-line offering
        simulcast without RID gets an answer without simulcast: the browser then sends one
        encoding. Returns the m-lines answered with simulcast."""
        remote_by_mid = {m.rtp.muxId: m for m in offer.media}
        answered: dict[str, SimulcastOffer] = {}
        for transceiver in self._pc.getTransceivers():
            mid = str(transceiver.mid)
            remote = remote_by_mid.get(mid)
            wanted = simulcast.get(mid)
            if remote is None or wanted is None or transceiver.kind != "video":
                continue
            offered = {e.uri: e.id for e in remote.rtp.headerExtensions}
            if RID_URI not in offered:
                continue
            extensions: list[RTCRtpHeaderExtensionParameters] = transceiver._headerExtensions
            have = {e.uri for e in extensions}
            added = [
                RTCRtpHeaderExtensionParameters(id=offered[uri], uri=uri)
                for uri in (RID_URI, REPAIRED_RID_URI)
                if uri in offered and uri not in have
            ]
            transceiver._headerExtensions = [*extensions, *added]
            answered[mid] = wanted
        return answered

    def _hook_transport(self, transport: RTCDtlsTransport) -> None:
        self._transport = transport

        # Packets that still come through aiortc's receive task (e.g. a datagram decrypted just
        # before the socket hook was installed) reach the same handlers.
        async def handle_rtp(data: bytes, arrival_time_ms: int = 0) -> None:
            self._io.dispatch(self._io.on_rtp, data, time.monotonic())

        async def handle_rtcp(data: bytes) -> None:
            self._io.dispatch(self._io.on_rtcp, data, time.monotonic())

        override(transport, "_handle_rtp_data", handle_rtp)
        override(transport, "_handle_rtcp_data", handle_rtcp)
        ice_transport: RTCIceTransport = transport.transport
        self._io.transport = transport
        self._io.nominated = ice_transport._connection._nominated
        install_gatherer(ice_transport._connection, self._settings)

    def _hook_sockets(self) -> None:
        """Give every ICE socket of the connection the direct SRTP path (idempotent)."""
        transport = self._transport
        if transport is None:
            return
        for protocol in transport.transport._connection._protocols:
            if id(protocol) not in self._hooked:
                self._hooked.add(id(protocol))
                self._hook_protocol(protocol, transport)

    def _hook_protocol(self, protocol: ice.StunProtocol, transport: RTCDtlsTransport) -> None:
        # SRTP straight off the socket, in compiled code (srtp/packet_io.py: SocketReader).
        # The reader drains the socket itself only under asyncio's selector loop, whose
        # transport hands over one datagram per wake-up; uvloop's (libuv) already reads up to 32
        # per wake-up in C, where running dry costs no Python exception.
        loop = asyncio.get_running_loop()
        sock = drained_socket(protocol) if isinstance(loop, asyncio.SelectorEventLoop) else None
        reader = SocketReader(
            self._io, transport, protocol.datagram_received, sock, _socket_fd(protocol)
        )
        override(protocol, "datagram_received", reader.datagram_received)

    def _on_connection_state(self) -> None:
        state = self._pc.connectionState
        if state == self.state or state not in ("connected", "failed", "closed"):
            return
        self.state = state
        handler = self.on_state
        if handler is not None:
            handler(state)

    async def _add_candidate(self, init: Mapping[str, Any] | None) -> None:
        text = None if init is None else init.get("candidate")
        if not text:
            await self._pc.addIceCandidate(None)
            return
        if not isinstance(text, str):
            raise InvalidPayload("candidate must be a string")
        try:
            candidate = aiortc_sdp.candidate_from_sdp(text.removeprefix("candidate:"))
        except (ValueError, IndexError) as exc:
            raise InvalidPayload(f"unusable ICE candidate: {exc}") from exc
        mid, index = (
            init.get("sdpMid") if init else None,
            init.get("sdpMLineIndex") if init else None,
        )
        candidate.sdpMid = mid if isinstance(mid, str) else None
        candidate.sdpMLineIndex = index if isinstance(index, int) else None
        if candidate.sdpMid is None and candidate.sdpMLineIndex is None:
            candidate.sdpMLineIndex = 0  # one BUNDLE transport: the first m-line carries it
        await self._pc.addIceCandidate(candidate)

    def _read_media(self, simulcast: Mapping[str, SimulcastOffer]) -> tuple[MediaLine, ...]:
        remote = aiortc_sdp.SessionDescription.parse(self._pc.remoteDescription.sdp)
        local = aiortc_sdp.SessionDescription.parse(self._pc.localDescription.sdp)
        remote_by_mid = {m.rtp.muxId: m for m in remote.media}
        cname = next((s.cname for m in local.media for s in m.ssrc if s.cname), "") or ""
        lines = []
        for transceiver in self._pc.getTransceivers():
            remote_m = remote_by_mid.get(transceiver.mid or "")
            if remote_m is None or transceiver.currentDirection is None:
                continue
            layers = simulcast.get(str(transceiver.mid))
            # A simulcast m-line's SSRCs are learnt from the packets' RID (the offer does not say
            # which SSRC carries which rid), so none is taken from the offer.
            ssrc, rtx_ssrc = _remote_ssrcs(remote_m) if layers is None else (None, None)
            direction = transceiver.currentDirection
            lines.append(
                MediaLine(
                    mid=str(transceiver.mid),
                    kind=transceiver.kind,
                    receives=direction in ("recvonly", "sendrecv"),
                    sends=direction in ("sendonly", "sendrecv"),
                    codecs=_codecs(transceiver._codecs),
                    extensions=tuple((e.uri, e.id) for e in transceiver._headerExtensions),
                    remote_ssrc=ssrc,
                    remote_rtx_ssrc=rtx_ssrc,
                    remote_track_id=_msid_track_id(remote_m),
                    local_ssrc=transceiver.sender._ssrc,
                    local_rtx_ssrc=transceiver.sender._rtx_ssrc,
                    cname=cname,
                    rids=() if layers is None else layers.rids,
                )
            )
        return tuple(lines)


def _accept_transport_cc(transceiver: RTCRtpTransceiver, remote: Any) -> None:
    """Add transport-cc to one transceiver's negotiated extensions and codecs, as far as the
    browser's m-line ``remote`` offers it (see :meth:`NodePeer._accept_transport_cc`)."""
    offered = next((e for e in remote.rtp.headerExtensions if e.uri == TRANSPORT_CC_URI), None)
    extensions: list[RTCRtpHeaderExtensionParameters] = transceiver._headerExtensions
    if offered is not None and all(e.uri != TRANSPORT_CC_URI for e in extensions):
        extension = RTCRtpHeaderExtensionParameters(id=offered.id, uri=TRANSPORT_CC_URI)
        transceiver._headerExtensions = [*extensions, extension]
    with_feedback = {
        c.payloadType
        for c in remote.rtp.codecs
        if any(f.type == "transport-cc" for f in c.rtcpFeedback)
    }
    transceiver._codecs = [
        dataclasses.replace(c, rtcpFeedback=[*c.rtcpFeedback, RTCRtcpFeedback("transport-cc")])
        if c.payloadType in with_feedback and all(f.type != "transport-cc" for f in c.rtcpFeedback)
        else c
        for c in transceiver._codecs
    ]


def _socket_fd(protocol: ice.StunProtocol) -> int:
    """The file descriptor the protocol's datagrams are read from (its own socket, or the
    shared one of ``--rtc-udp-port``), for their kernel receive times; -1 if unknown."""
    transport = protocol.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    try:
        return int(sock.fileno()) if sock is not None else -1
    except (OSError, ValueError):
        return -1


def _locate(pair: Any) -> tuple[Any, Any, Any]:
    """(our raw socket or None, asyncio datagram transport, remote address) of a nominated
    candidate pair: where PeerIo.send sends."""
    protocol = pair.protocol
    return raw_socket(protocol), protocol.transport, pair.remote_addr


def _parse_offer(text: str) -> aiortc_sdp.SessionDescription:
    """aiortc's SDP parser reports bad input with whatever its code hits first (ValueError,
    KeyError, ``assert``, a bare StopIteration from ``next()``...). It is a pure function of the
    client's text, so any exception it raises means: this is not a usable description."""
    try:
        return aiortc_sdp.SessionDescription.parse(text)
    except Exception as exc:
        raise InvalidPayload(f"unparseable SDP offer ({type(exc).__name__})") from exc


def _check_offer(offer: aiortc_sdp.SessionDescription) -> None:
    """What the node needs from an offer before aiortc touches it: media, all of it in exactly
    one BUNDLE group (RFC 9143), so every stream of a peer shares one ICE/DTLS transport, with
    its ICE credentials (RFC 8839 §5.4) and DTLS fingerprint (RFC 8842 §5). Browsers always offer
    that; anything else would leave aiortc with transceivers that have no transport. The node
    carries audio and video only: any other m-line (a data channel's ``application``, or a kind
    that is not one, which aiortc would take for a data channel it never set up and fail on
    while answering) is refused."""
    media = [m for m in offer.media if m.kind in ("audio", "video")]
    if not media:
        raise InvalidPayload("unusable SDP offer: no audio or video section")
    other = next((m.kind for m in offer.media if m.kind not in ("audio", "video")), None)
    if other is not None:
        raise InvalidPayload(f"unusable SDP offer: the node carries audio and video, not {other!r}")
    mids = [m.rtp.muxId for m in offer.media]
    if not all(mids) or len(set(mids)) != len(mids):
        raise InvalidPayload("unusable SDP offer: every m-line needs its own a=mid")
    if not any(g.semantic == "BUNDLE" and set(mids) == set(map(str, g.items)) for g in offer.group):
        raise InvalidPayload("unusable SDP offer: the node needs every m-line in one BUNDLE group")
    for m in media:
        if not (m.ice and m.ice.usernameFragment and m.ice.password):
            raise InvalidPayload("unusable SDP offer: missing a=ice-ufrag / a=ice-pwd")
        if m.dtls is None or not m.dtls.fingerprints:
            raise InvalidPayload("unusable SDP offer: missing a=fingerprint")
        # RFC 8866 §6.7 lets a missing direction mean sendrecv; aiortc cannot answer that, and
        # every browser states it.
        if m.direction is None:
            raise InvalidPayload("unusable SDP offer: an m-line without a direction attribute")


def _ice_server(server: Mapping[str, Any]) -> RTCIceServer:
    urls = server["urls"]
    return RTCIceServer(
        urls=list(urls) if isinstance(urls, list | tuple) else str(urls),
        username=server.get("username"),
        credential=server.get("credential"),
    )


def _codecs(negotiated: list[Any]) -> tuple[Codec, ...]:
    rtx_for = {
        c.parameters.get("apt"): c.payloadType
        for c in negotiated
        if c.mimeType.lower() == "video/rtx"
    }
    return tuple(
        Codec(
            payload_type=c.payloadType,
            mime_type=c.mimeType.lower(),
            clock_rate=c.clockRate,
            channels=c.channels,
            parameters=tuple(sorted((str(k), str(v)) for k, v in c.parameters.items())),
            rtx_payload_type=rtx_for.get(c.payloadType),
        )
        for c in negotiated
        if c.mimeType.lower() != "video/rtx"
    )


def _msid_track_id(media: Any) -> str | None:
    """The track id of an m-line's ``a=msid:<stream id> <track id>`` (RFC 8830 §2), whatever the
    session's msid-semantic line says (browsers differ there)."""
    parts = str(media.msid or "").split()
    return parts[1] if len(parts) == 2 else None


def _remote_ssrcs(media: Any) -> tuple[int | None, int | None]:
    """The browser's media and RTX SSRCs of one m-line (a=ssrc-group:FID, RFC 4588 section 8)."""
    for group in media.ssrc_group:
        if group.semantic == "FID" and len(group.items) == 2:
            return int(group.items[0]), int(group.items[1])
    if media.ssrc:
        return int(media.ssrc[0].ssrc), None
    return None, None
