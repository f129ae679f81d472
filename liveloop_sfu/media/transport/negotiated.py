"""What a peer negotiated, as plain values, and how a publisher's track maps onto a subscriber.

The adapter (:mod:`liveloop_sfu.media.transport.peer`) reads these out of aiortc after each
answer; the session (:mod:`.links`) turns them into the forwarding core's configs. Pure
functions, no aiortc.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from liveloop_sfu.media.core.forwarder import SubscriberConfig, TrackConfig

__all__ = ["Codec", "MediaLine", "subscriber_config", "track_config"]


@dataclass(frozen=True, slots=True)
class Codec:
    """One negotiated codec of an m-line (RTX is folded into ``rtx_payload_type``)."""

    payload_type: int
    mime_type: str  # lower case, e.g. "video/vp8"
    clock_rate: int
    channels: int | None
    parameters: tuple[tuple[str, str], ...]
    rtx_payload_type: int | None

    @property
    def format(self) -> tuple[str, int, int | None, tuple[tuple[str, str], ...]]:
        """Everything but the payload types: equal formats are the same codec configuration."""
        return (self.mime_type, self.clock_rate, self.channels, self.parameters)

    @property
    def name(self) -> str:
        return self.mime_type.split("/", 1)[1]

    def same_format(self, other: Codec) -> bool:
        """Can a packet of ``other`` be forwarded as this codec? Same name and clock rate; for
        H.264 also the same packetization mode and profile_idc (RFC 6184 §8.1: the first byte of
        profile-level-id; the level only bounds resolution and bitrate)."""
        if (self.mime_type, self.clock_rate) != (other.mime_type, other.clock_rate):
            return False
        if self.mime_type != "video/h264":
            return True
        mine, theirs = dict(self.parameters), dict(other.parameters)
        return mine.get("packetization-mode", "0") == theirs.get("packetization-mode", "0") and (
            mine.get("profile-level-id", "42e01f")[:2].lower()
            == theirs.get("profile-level-id", "42e01f")[:2].lower()
        )


@dataclass(frozen=True, slots=True)
class MediaLine:
    """One negotiated m-line of a peer, as the forwarding plane needs it."""

    mid: str
    kind: str
    receives: bool  # the browser sends on it (the node is a receiver)
    sends: bool  # the node sends on it
    codecs: tuple[Codec, ...]
    extensions: tuple[tuple[str, int], ...]  # (uri, id) negotiated for this peer
    remote_ssrc: int | None  # browser's media SSRC from the offer (a=ssrc), if announced
    remote_rtx_ssrc: int | None
    local_ssrc: int  # the node's SSRC on this m-line (media it sends; sender of its RTCP)
    local_rtx_ssrc: int
    cname: str
    # The browser's track id on this m-line (its offer's a=msid), if it sends one.
    remote_track_id: str | None = None
    # The simulcast layers the browser sends on it (RFC 8851 rids, as answered), () without
    # simulcast. Their SSRCs are learnt from each packet's RID extension (sfu/links.py).
    rids: tuple[str, ...] = ()

    def extension_id(self, uri: str) -> int | None:
        return next((ext_id for u, ext_id in self.extensions if u == uri), None)


def track_config(line: MediaLine) -> TrackConfig:
    """The forwarding core's view of a track a peer publishes on ``line``."""
    kind: Literal["audio", "video"] = "video" if line.kind == "video" else "audio"
    return TrackConfig(
        kind=kind,
        ssrc=line.remote_ssrc,
        clock_rate=line.codecs[0].clock_rate,
        codecs={c.payload_type: c.name for c in line.codecs},
        header_extensions={ext_id: uri for uri, ext_id in line.extensions},
        rtx_payload_types={
            c.rtx_payload_type: c.payload_type
            for c in line.codecs
            if c.rtx_payload_type is not None
        },
        feedback_ssrc=line.local_ssrc,
        rids=line.rids if line.kind == "video" else (),
    )


def subscriber_config(
    subscriber_id: str, published: MediaLine, line: MediaLine, egress_ready: bool
) -> SubscriberConfig:
    """The forwarding core's config for sending the track published on ``published`` to a
    subscriber's ``line``: publisher payload types map onto what the subscriber accepted, by codec
    format (the node only forwards a codec the subscriber negotiated; others are dropped as
    ``unknown-payload-type``)."""
    payload_types: dict[int, int] = {}
    rtx_payload_types: dict[int, int] = {}
    for codec in published.codecs:
        # Prefer the identical format (e.g. the same H.264 profile-level-id), else a compatible one.
        match = next((c for c in line.codecs if c.format == codec.format), None)
        match = match or next((c for c in line.codecs if c.same_format(codec)), None)
        if match is not None:
            payload_types[codec.payload_type] = match.payload_type
            if match.rtx_payload_type is not None:
                rtx_payload_types[match.payload_type] = match.rtx_payload_type
    return SubscriberConfig(
        subscriber_id=subscriber_id,
        ssrc=line.local_ssrc,
        payload_types=payload_types,
        header_extensions=dict(line.extensions),
        mid=line.mid,
        rtx_ssrc=line.local_rtx_ssrc if rtx_payload_types else None,
        rtx_payload_types=rtx_payload_types,
        egress_ready=egress_ready,
    )
