"""Per-subscriber rewriting: sequence numbers, and header extensions remapped by URI.

:class:`SeqRewriter` is the idea of mediasoup's ``SeqManager`` in our own form. Input sequence
numbers arrive already *extended* (unwrapped to an ever-growing int by the forwarder's input
stage), so the arithmetic here has no wraparound until the final ``& 0xFFFF``:

    output = (input + base - number_of_node_drops_before(input)) mod 2^16

The node's own drops (packets before a keyframe, paused, padding-only...) are remembered in a
sorted list and subtracted, so the output has no gap for them; a packet *lost upstream* is simply
never seen, so its gap stays and the subscriber NACKs it. Late (reordered) packets get the number
they would have had in order. Drops older than the reorder window are folded into ``base``.

:class:`ExtensionPlan` decides, once per subscription, what happens to each header extension
(RFC 8285), identified by URI since ids are negotiated per peer:

- ``mid`` is *written* with the subscriber's own mid value on every packet (its transceiver's mid
  differs from the publisher's), as aiortc's sender does;
- ``abs-send-time`` is *restamped* with the node's send time (the subscriber's bandwidth estimator
  must measure the node→subscriber path, not the publisher's jitter);
- transport-wide-cc sequence numbers are *restamped* from the subscriber transport's counter
  (:class:`~.sent_packets.TransportSequence`, which also keeps when each number left and how
  big the packet was, for the subscriber's bandwidth estimate), since they number packets per
  transport;
- rtp-stream-id / repaired-rtp-stream-id are *removed* (simulcast identifiers of the publisher's
  stream mean nothing on the subscriber's);
- any other extension the subscriber negotiated (same URI) is *copied* with its id remapped
  (audio-level, toffset, video-orientation, playout-delay...);
- extensions the subscriber did not negotiate are *removed*: a receiver must ignore unknown ids
  (RFC 8285 §4.1.2), but an id the subscriber negotiated for another URI would be misread.
"""

from __future__ import annotations

import struct
from bisect import bisect_left, bisect_right
from collections.abc import Mapping

from liveloop_sfu.media.core.sent_packets import TransportSequence
from liveloop_sfu.media.core.seq import wrap16

__all__ = [
    "ABS_SEND_TIME_URI",
    "AUDIO_LEVEL_URI",
    "MID_URI",
    "REPAIRED_RID_URI",
    "RID_URI",
    "TRANSPORT_CC_URI",
    "ExtensionPlan",
    "SeqRewriter",
    "TransportSequence",
]

MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
RID_URI = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
REPAIRED_RID_URI = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
TRANSPORT_CC_URI = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"

_NEVER_COPIED = frozenset({MID_URI, RID_URI, REPAIRED_RID_URI, ABS_SEND_TIME_URI, TRANSPORT_CC_URI})


class SeqRewriter:
    """Extended input sequence number -> 16-bit output sequence number, gap-free over drops."""

    __slots__ = ("_base", "_dropped", "_initial", "_max_in", "_start_in", "_window")

    def __init__(self, initial_output: int, window: int = 1024) -> None:
        self._initial = wrap16(initial_output)
        self._window = window
        self._base = 0
        self._dropped: list[int] = []  # sorted extended input seqs the node dropped
        self._max_in = -1  # newest input handled; -1 before the first forwarded packet
        self._start_in = -1  # the first forwarded input

    @property
    def started(self) -> bool:
        return self._max_in >= 0

    def forward(self, ext: int) -> int:
        """Output seq for a packet being forwarded, or -1 when it must be dropped (``too-old``:
        before the first forwarded packet, outside the window, or already dropped)."""
        if self._max_in < 0:
            self._max_in = self._start_in = ext
            self._base = self._initial - ext
            return self._initial
        if ext > self._max_in:
            self._max_in = ext
            if not self._dropped:
                return (ext + self._base) & 0xFFFF  # = wrap16(...), inlined: per packet
            self._fold_old_drops()
        elif ext < self._start_in or ext <= self._max_in - self._window:
            return -1
        n = bisect_left(self._dropped, ext)
        if n < len(self._dropped) and self._dropped[n] == ext:
            return -1
        return (ext + self._base - n) & 0xFFFF  # = wrap16(...), inlined: per packet

    def drop(self, ext: int) -> None:
        """The node drops this packet: close the gap it would leave. Only packets newer than all
        handled so far can be closed; a late packet keeps its gap (the ones after it already went
        out with their numbers). Before the first forwarded packet there is nothing to close."""
        if 0 <= self._max_in < ext:
            self._dropped.append(ext)
            self._max_in = ext
            self._fold_old_drops()

    def restart(self, next_output: int) -> None:
        """Continue a new input sequence (e.g. another source) at ``next_output``."""
        self._initial = wrap16(next_output)
        self._max_in = self._start_in = -1
        self._dropped.clear()

    @property
    def next_output(self) -> int:
        """The output seq the next in-order packet would get."""
        if self._max_in < 0:
            return self._initial
        return wrap16(self._max_in + 1 + self._base - len(self._dropped))

    def _fold_old_drops(self) -> None:
        k = bisect_right(self._dropped, self._max_in - self._window)
        if k:
            del self._dropped[:k]
            self._base -= k


class ExtensionPlan:
    """What to do with each header extension for one subscriber (see the module docstring)."""

    __slots__ = (
        "_abs_header",
        "_copy",
        "_fixed",
        "_one_byte",
        "_tcc_header",
        "empty",
        "transport_seq_offset",
    )

    def __init__(
        self,
        publisher: Mapping[int, str],
        subscriber: Mapping[str, int],
        mid: str | None,
    ) -> None:
        self._copy: dict[int, int] = {
            in_id: subscriber[uri]
            for in_id, uri in publisher.items()
            if uri in subscriber and uri not in _NEVER_COPIED
        }
        out_ids = list(self._copy.values())
        fixed: list[tuple[int, bytes]] = []
        mid_id = subscriber.get(MID_URI)
        if mid_id is not None and mid:
            fixed.append((mid_id, mid.encode()))
            out_ids.append(mid_id)
        abs_id = subscriber.get(ABS_SEND_TIME_URI)
        tcc_id = subscriber.get(TRANSPORT_CC_URI)
        out_ids += [i for i in (abs_id, tcc_id) if i is not None]
        # RFC 8285 §4.2: the one-byte form holds ids 1..14 and values of 1..16 bytes.
        self._one_byte = all(1 <= i <= 14 for i in out_ids) and all(
            1 <= len(v) <= 16 for _, v in fixed
        )
        self._fixed = b"".join(self._element(i, v) for i, v in fixed)
        self._abs_header = self._element_header(abs_id, 3) if abs_id is not None else b""
        self._tcc_header = self._element_header(tcc_id, 2) if tcc_id is not None else b""
        self.empty = not (self._copy or self._fixed or self._abs_header or self._tcc_header)
        # Where the 2-byte transport-wide number sits in every packet, counted from the end of
        # the CSRC list (4-byte profile word, fixed elements, abs-send-time element, element
        # header), so a retransmission can be renumbered in place; -1 when not stamped.
        self.transport_seq_offset = (
            4
            + len(self._fixed)
            + (len(self._abs_header) + 3 if self._abs_header else 0)
            + len(self._tcc_header)
            if self._tcc_header
            else -1
        )

    def _element_header(self, ext_id: int, length: int) -> bytes:
        if self._one_byte:
            return bytes([(ext_id << 4) | (length - 1)])
        return bytes([ext_id, length])

    def _element(self, ext_id: int, value: bytes) -> bytes:
        return self._element_header(ext_id, len(value)) + value

    def block(
        self,
        now: float,
        data: bytes,
        elements: list[tuple[int, int, int]] | None,
        transport_seq: TransportSequence | None,
    ) -> bytes:
        """The complete extension block for one outgoing packet: the 4-byte profile/length word
        followed by the elements, zero-padded to 32 bits; ``b""`` when there is nothing to send.
        Runs per packet per subscriber, hence the precomputed headers and few allocations."""
        parts = [self._fixed]
        if self._abs_header:
            # 6.18 fixed-point seconds, 24 bits (abs-send-time spec); any epoch will do.
            parts.append(self._abs_header + (int(now * 262144.0) & 0xFFFFFF).to_bytes(3, "big"))
        if self._tcc_header and transport_seq is not None:
            value = transport_seq.value
            transport_seq.value = (value + 1) & 0xFFFF  # = add16(value, 1), inlined: per packet
            parts.append(self._tcc_header + value.to_bytes(2, "big"))
        if elements:
            copy = self._copy
            headers = _ONE_BYTE_HEADERS if self._one_byte else None
            for ext_id, start, end in elements:
                out_id = copy.get(ext_id)
                if out_id is None:
                    continue
                length = end - start
                if headers is not None:
                    if not 1 <= length <= 16:
                        continue  # unrepresentable in the one-byte form
                    parts.append(headers[out_id][length])
                elif length <= 255:
                    parts.append(bytes([out_id, length]))
                else:
                    continue
                parts.append(data[start:end])
        body = b"".join(parts)
        if not body:
            return b""
        pad = -len(body) % 4
        profile = 0xBEDE if self._one_byte else 0x1000
        return _WORD.pack(profile, (len(body) + pad) // 4) + body + _PADDING[pad]


_WORD = struct.Struct("!HH")
_PADDING = (b"", b"\0", b"\0\0", b"\0\0\0")
# _ONE_BYTE_HEADERS[id][length]: the one-byte element header (RFC 8285 §4.2: id, length - 1).
_ONE_BYTE_HEADERS = tuple(
    tuple(bytes([(ext_id << 4) | ((length - 1) & 0x0F)]) for length in range(17))
    for ext_id in range(15)
)
