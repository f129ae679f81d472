"""Simulcast layers as the node receives them: which stream a packet belongs to, and how each
layer is doing.

A browser sending simulcast (RFC 8853) sends each encoding as its own RTP stream, with its own
SSRC, and names it with the RID header extension (RFC 8852 §3.1; its RTX stream with
repaired-RID, §3.2) on its first packets: libwebrtc stops sending them once a receiver report
acknowledges the SSRC. :func:`read_rid` reads that name off an unknown SSRC's packet so the
session can learn which layer the SSRC carries.

:class:`LayerStats` keeps what the allocation needs of one layer: its bit rate and frame rate
over the last second, when its last keyframe arrived and that keyframe's picture size. The
size ranks the layers: browsers name them freely (``q;h;f``, ``l;m;h``, ``f;h;q``) and in no
agreed order, but a keyframe says how large its picture is.
"""

from __future__ import annotations

from liveloop_sfu.media.core.rtp import RtpParseError, RtpView

__all__ = ["TEMPORAL_LAYERS", "LayerStats", "read_rid"]

# The rates are measured over windows of this length; a layer silent for STALE_AFTER is
# reported at zero (its encoding was paused, or the publisher's uplink dropped it).
RATE_WINDOW = 1.0
TEMPORAL_LAYERS = 4  # RFC 7741 §4.2: the TID has 2 bits
STALE_AFTER = 2.0
FIRST_ESTIMATE = 0.2


def read_rid(data: bytes, ext_id: int) -> str:
    """The RtpStreamId (or RepairedRtpStreamId) of a packet: the value of header extension
    ``ext_id`` as text (RFC 8852 §3: US-ASCII, alphanumeric, ``-`` and ``_``), or ``""`` when
    the packet carries none or a malformed one. Never raises."""
    if ext_id <= 0:
        return ""
    try:
        view = RtpView(data)
        elements = view.extensions() if view.ext_start else []
    except RtpParseError:
        return ""
    for element_id, start, end in elements:
        if element_id == ext_id:
            value = bytes(data[start:end]).rstrip(b"\0")
            if value and all(c < 128 and (chr(c).isalnum() or c in b"-_") for c in value):
                return value.decode("ascii")
            return ""
    return ""


class LayerStats:
    """Bit rate, frame rate and last keyframe of one simulcast layer, fed per packet."""

    __slots__ = (
        "_bytes",
        "_frames",
        "_last_packet",
        "_last_ts",
        "_tid_bytes",
        "_window_start",
        "bitrate",
        "first_packet",
        "frame_rate",
        "height",
        "keyframe_at",
        "temporal_bitrates",
        "width",
    )

    def __init__(self) -> None:
        self.bitrate = 0  # bit/s over the last complete window
        self.frame_rate = 0.0  # frames/s over the last complete window
        self.keyframe_at = -1.0  # ``now`` of the last keyframe's first packet, -1 before one
        self.width = 0  # picture size of the last keyframe (0: unknown, e.g. not VP8)
        self.height = 0
        self.first_packet = -1.0  # ``now`` of the layer's first packet, -1 before it
        self._window_start = -1.0
        self._bytes = 0
        self._frames = 0
        self._last_ts = -1
        self._last_packet = -1.0
        # Bit rate of each temporal layer (TID 0..3) over the last complete window; a packet
        # without a TID counts as the base layer.
        self.temporal_bitrates = [0] * TEMPORAL_LAYERS
        self._tid_bytes = [0] * TEMPORAL_LAYERS

    def on_packet(self, now: float, ts: int, size: int, tid: int = -1) -> None:
        """A packet of this layer (``size``: its RTP bytes, ``tid``: its temporal layer or -1);
        a new RTP timestamp is a new frame."""
        if self._window_start < 0:
            self._window_start = self.first_packet = now
        elif now - self._window_start >= RATE_WINDOW:
            elapsed = now - self._window_start
            self.bitrate = int(self._bytes * 8 / elapsed)
            self.frame_rate = self._frames / elapsed
            self.temporal_bitrates = [int(b * 8 / elapsed) for b in self._tid_bytes]
            self._window_start = now
            self._bytes = self._frames = 0
            self._tid_bytes = [0] * TEMPORAL_LAYERS
        self._bytes += size
        self._tid_bytes[tid if tid > 0 else 0] += size
        if ts != self._last_ts:
            self._last_ts = ts
            self._frames += 1
        self._last_packet = now

    def on_keyframe(self, now: float, width: int, height: int) -> None:
        self.keyframe_at = now
        if width and height:
            self.width, self.height = width, height

    def active(self, now: float) -> bool:
        """Has the layer sent anything in the last :data:`STALE_AFTER` seconds?"""
        return self._last_packet >= 0 and now - self._last_packet < STALE_AFTER

    def current_bitrate(self, now: float) -> int:
        """:attr:`bitrate`, or 0 for a layer that went silent. A layer younger than its first
        complete window is measured over what it has sent so far (from :data:`FIRST_ESTIMATE`
        on): browsers start their layers one after the other, and a layer taken for silent in
        its first second would make the allocation move its subscribers away and back."""
        if not self.active(now):
            return 0
        if self.bitrate == 0 and now - self._window_start >= FIRST_ESTIMATE:
            return int(self._bytes * 8 / (now - self._window_start))
        return self.bitrate

    def temporal_bitrate(self, highest: int) -> int:
        """What the layer takes with its temporal layers up to TID ``highest``, in the last
        complete window."""
        return sum(self.temporal_bitrates[: highest + 1])

    def rank(self) -> tuple[int, int]:
        """Orders layers from the smallest to the largest: by keyframe picture area, then by bit
        rate (a codec whose keyframes do not tell their size)."""
        return (self.width * self.height, self.bitrate)
