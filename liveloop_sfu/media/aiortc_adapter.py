"""The node's end of one browser's WebRTC connection, on aiortc — without codecs.

This is the ONLY module that touches aiortc/aioice internals (``REQUIRED_HOOKS`` lists them and
``tests/unit/media/test_aiortc_hooks.py`` fails loudly when an upgrade moves one). aiortc has no
raw-RTP API: its receiver always feeds a jitter buffer and a decoder thread, its sender always pulls
frames from a track and encodes them. A forwarding node wants neither, so per connection we:

* replace ``RTCDtlsTransport._handle_rtp_data`` / ``_handle_rtcp_data`` (called with the SRTP-
  decrypted bytes) by our own handlers: packets are handed over as bytes, never parsed into
  ``RtpPacket`` objects, never depacketized, never decoded;
* replace ``RTCRtpReceiver.receive`` and ``RTCRtpSender.send`` by no-ops, so no decoder thread,
  no encoder, and none of aiortc's per-stream RTCP tasks are ever started — the forwarding core
  owns sender reports, receiver feedback and retransmissions;
* send with ``RTCDtlsTransport._send_rtp`` (SRTP-protect + ICE send) whatever bytes we are given;
* replace aioice's ``Connection.gather_candidates`` so the node offers the operator's addresses
  (loopback included), in the operator's UDP port range, under the announced address.

Only instances created here are modified; aiortc peers elsewhere in the process (test clients)
keep their normal behaviour.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import random
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aioice import Candidate, Connection, ice, turn
from aioice.candidate import candidate_foundation, candidate_priority
from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc import sdp as aiortc_sdp
from aiortc.exceptions import InvalidStateError, OperationError
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcicetransport import RTCIceTransport
from aiortc.rtcrtptransceiver import RTCRtpTransceiver

from liveloop_sfu.errors import Capacity, InternalError, InvalidPayload
from liveloop_sfu.media.negotiated import Codec, MediaLine
from liveloop_sfu.media.settings import MediaSettings

logger = logging.getLogger(__name__)

# (bytes, arrival time as time.monotonic()) -> awaited inside the DTLS receive loop.
PacketHandler = Callable[[bytes, float], Awaitable[None]]
# connection state: "connected" | "failed" | "closed"
StateHandler = Callable[[str], None]
# [(mid, kind)] of the m-lines the node may send on (the browser offered recvonly or sendrecv),
# in m-line order -> {mid: (msid stream id, msid track id)} of those that carry a track; the
# others are answered receive-only / inactive.
SendPlan = Callable[[Sequence[tuple[str, str]]], Mapping[str, tuple[str, str]]]

MAX_PENDING_CANDIDATES = 64
STUN_TIMEOUT = 5.0


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
    Hook("aiortc.rtcdtlstransport.RTCDtlsTransport", "_send_rtp", ("data",)),
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
    Hook("aioice.ice.StunProtocol", "__init__", ("receiver",)),
    Hook("aioice.ice", "server_reflexive_candidate", ("protocol", "stun_server")),
    Hook("aioice.turn", "UDP_SOCKET_BUFFER_SIZE"),
    Hook("aiortc.sdp", "candidate_from_sdp", ("sdp",)),
    Hook("aiortc.sdp.SessionDescription", "parse", ("sdp",)),
)


def _override(obj: object, name: str, replacement: object) -> None:
    """Replace one member of one instance, loudly if aiortc moved it."""
    if not hasattr(obj, name):
        raise RuntimeError(f"aiortc hook missing: {type(obj).__name__}.{name}")
    setattr(obj, name, replacement)


async def _noop_start(parameters: object) -> None:
    """Stands in for RTCRtpSender.send / RTCRtpReceiver.receive: starting them would create the
    encoder task / decoder thread and aiortc's own RTCP loops."""


class NodePeer:
    """The node's RTCPeerConnection with one browser: answers offers, moves RTP/RTCP bytes."""

    def __init__(self, settings: MediaSettings, label: str) -> None:
        self.label = label
        self._settings = settings
        servers = [_ice_server(server) for server in settings.ice_servers]
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
        self.on_rtp: PacketHandler | None = None
        self.on_rtcp: PacketHandler | None = None
        self.on_state: StateHandler | None = None

    @property
    def closed(self) -> bool:
        return self._closed

    async def answer(self, offer_sdp: str, plan: SendPlan) -> str:
        """Apply the browser's offer and return the node's answer (candidates included: the node
        gathers its host candidates before answering, it never trickles)."""
        if self._closed:
            raise InvalidPayload("the connection to the node is closed")
        try:
            offer = aiortc_sdp.SessionDescription.parse(offer_sdp)
            _check_offer(offer)
            await self._pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        except (ValueError, LookupError, OperationError, InvalidStateError) as exc:
            raise InvalidPayload(f"unusable SDP offer: {exc}") from exc
        # __connect was scheduled by setRemoteDescription but has not run yet: install the hooks
        # now, before any await, so no encoder/decoder can start.
        self._install_hooks(plan, {m.rtp.muxId: m.direction for m in offer.media})
        try:
            answer = await self._pc.createAnswer()
            await self._pc.setLocalDescription(answer)
        except InvalidStateError as exc:  # closed while gathering
            raise InvalidPayload("the connection to the node is closed") from exc
        self.media = self._read_media()
        for candidate in self._pending_candidates:
            await self._add_candidate(candidate)
        self._pending_candidates.clear()
        return str(self._pc.localDescription.sdp)

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
        """SRTP-protect and send one RTP packet or compound RTCP packet; False if the transport
        is not (or no longer) connected."""
        transport = self._transport
        if transport is None:
            return False
        try:
            await transport._send_rtp(data)
        except ConnectionError:
            return False
        return True

    async def close(self) -> None:
        """Idempotent. Closes the peer connection (ICE sockets, DTLS) and forgets the callbacks."""
        if self._closed:
            return
        self._closed = True
        self.on_rtp = self.on_rtcp = None
        self.on_state = None
        self._pending_candidates.clear()
        await self._pc.close()
        self._transport = None

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
            _override(sender, "send", _noop_start)
            _override(receiver, "receive", _noop_start)
        if label is None:
            transceiver.direction = "recvonly"
        else:
            transceiver.direction = "sendrecv"
            # DESIGN wire contract: msid = "<owner's participantId> <owner's track id>".
            _override(sender, "_stream_id", label[0])
            _override(sender, "_track_id", label[1])

    def _hook_transport(self, transport: RTCDtlsTransport) -> None:
        self._transport = transport

        async def handle_rtp(data: bytes, arrival_time_ms: int = 0) -> None:
            handler = self.on_rtp
            if handler is not None:
                await handler(data, time.monotonic())

        async def handle_rtcp(data: bytes) -> None:
            handler = self.on_rtcp
            if handler is not None:
                await handler(data, time.monotonic())

        _override(transport, "_handle_rtp_data", handle_rtp)
        _override(transport, "_handle_rtcp_data", handle_rtcp)
        ice_transport: RTCIceTransport = transport.transport
        install_gatherer(ice_transport._connection, self._settings)

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

    def _read_media(self) -> tuple[MediaLine, ...]:
        remote = aiortc_sdp.SessionDescription.parse(self._pc.remoteDescription.sdp)
        local = aiortc_sdp.SessionDescription.parse(self._pc.localDescription.sdp)
        remote_by_mid = {m.rtp.muxId: m for m in remote.media}
        cname = next((s.cname for m in local.media for s in m.ssrc if s.cname), "") or ""
        lines = []
        for transceiver in self._pc.getTransceivers():
            remote_m = remote_by_mid.get(transceiver.mid or "")
            if remote_m is None or transceiver.currentDirection is None:
                continue
            ssrc, rtx_ssrc = _remote_ssrcs(remote_m)
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
                )
            )
        return tuple(lines)


def _check_offer(offer: aiortc_sdp.SessionDescription) -> None:
    """What the node needs from an offer: media, all of it in one BUNDLE group (RFC 9143), so
    every stream of a peer shares one ICE/DTLS transport. Browsers always offer that."""
    media = [m for m in offer.media if m.kind in ("audio", "video")]
    if not media:
        raise ValueError("no audio or video section")
    mids = {m.rtp.muxId for m in offer.media}
    if not any(g.semantic == "BUNDLE" and mids <= set(map(str, g.items)) for g in offer.group):
        raise ValueError("the node needs every m-line in one BUNDLE group")


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


# -- ICE candidate gathering ---------------------------------------------------------------------


def restrict_gathering(pc: RTCPeerConnection, settings: MediaSettings) -> None:
    """Make an ordinary aiortc peer (a test or benchmark client) gather only on
    ``settings.host_addresses``. Call it after adding tracks and before ``setLocalDescription``;
    give the peer ``RTCConfiguration(iceServers=[])`` so it asks no STUN server either."""
    seen: set[int] = set()
    for transceiver in pc.getTransceivers():
        ice_transport: RTCIceTransport = transceiver.receiver.transport.transport
        if id(ice_transport) not in seen:
            seen.add(id(ice_transport))
            install_gatherer(ice_transport._connection, settings)


def install_gatherer(connection: Connection, settings: MediaSettings) -> None:
    """Make ``connection`` offer the operator's addresses instead of aioice's own choice."""

    async def gather_candidates() -> None:
        if connection._local_candidates_start:
            return
        connection._local_candidates_start = True
        try:
            for component in sorted(connection._components):
                connection._local_candidates += await _gather_component(
                    connection, component, settings
                )
        finally:
            connection._local_candidates_end = True

    _override(connection, "gather_candidates", gather_candidates)


async def _gather_component(
    connection: Connection, component: int, settings: MediaSettings
) -> list[Candidate]:
    candidates: list[Candidate] = []
    protocols: list[ice.StunProtocol] = []
    for address in settings.host_addresses:
        protocol = await _bind(connection, address, settings)
        # Owned by the connection at once, so its close() releases it even if a later bind fails.
        connection._protocols.append(protocol)
        sockname = protocol.transport.get_extra_info("sockname")
        # The candidate names the announced address; the socket stays bound to the local one
        # (aioice only uses the candidate's address for logging and srflx bookkeeping).
        host = settings.announced_ip or sockname[0]
        protocol.local_candidate = Candidate(
            foundation=candidate_foundation("host", "udp", host),
            component=component,
            transport="udp",
            priority=candidate_priority(component, "host"),
            host=host,
            port=sockname[1],
            type="host",
        )
        protocols.append(protocol)
        candidates.append(protocol.local_candidate)
    candidates += await _server_candidates(connection, component, protocols)
    return candidates


async def _server_candidates(
    connection: Connection, component: int, protocols: list[ice.StunProtocol]
) -> list[Candidate]:
    """Server-reflexive (STUN) and relayed (TURN) candidates, only when the operator configured
    ICE servers for the node."""
    found: list[Candidate] = []
    stun_server = connection.stun_server
    if stun_server is not None:
        for protocol in protocols:
            try:
                candidate, _ = await asyncio.wait_for(
                    ice.server_reflexive_candidate(protocol, stun_server), STUN_TIMEOUT
                )
            except (TimeoutError, OSError, ConnectionError) as exc:
                logger.info("STUN query through %s failed: %s", stun_server, exc)
                continue
            found.append(candidate)
    if connection.turn_server is not None:
        # With no addresses aioice's own routine only allocates the TURN relay.
        found += await connection.get_component_candidates(component=component, addresses=[])
    return found


async def _bind(connection: Connection, address: str, settings: MediaSettings) -> ice.StunProtocol:
    loop = asyncio.get_running_loop()
    if settings.port_min is None or settings.port_max is None:
        ports = [0]
    else:
        span = settings.port_max - settings.port_min + 1
        start = random.randrange(span)
        ports = [settings.port_min + (start + i) % span for i in range(span)]
    for port in ports:
        try:
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: ice.StunProtocol(connection), local_addr=(address, port)
            )
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE and port != 0:
                continue
            raise InternalError(f"cannot bind a media socket on {address}: {exc}") from exc
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, turn.UDP_SOCKET_BUFFER_SIZE)
        assert isinstance(protocol, ice.StunProtocol)
        return protocol
    raise Capacity(f"no free UDP port on {address} in the configured media port range")
