"""One incoming RTP stream of a published track: the whole track, or one simulcast layer.

A track sent without simulcast is one stream; a simulcast track is one stream per encoding
(RFC 8853), each with its own SSRC, sequence numbers, timestamps, losses, keyframes and sender
reports. Everything the forwarder keeps per incoming stream lives here, so a
:class:`~.forwarder.Forwarder` holds one :class:`Layer` per stream and moves its subscribers
between them (:mod:`.forwarder`, "layers"):

- the input stage: sequence unwrap, duplicate and reorder-window filter, RFC 3550 A.1 restart
  detection (:meth:`Layer.accept`);
- upstream NACKs (:class:`~.nack_generator.NackGenerator`) and keyframe requests
  (:class:`~.keyframe_requests.KeyframeRequestManager`), both about this SSRC;
- the publisher's last sender report of this SSRC (the node's own SRs, and the timestamp mapping
  between layers at a switch);
- the subscriptions it feeds now, and those that join it at its next keyframe;
- for simulcast layers, :class:`~.simulcast.LayerStats` and the reception statistics of the
  receiver reports the node owes the publisher about this SSRC (RFC 3550 §6.4.2; a track
  without simulcast has them in the session's publication).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from liveloop_sfu.media.core.drops import DropCounters, DropReason
from liveloop_sfu.media.core.keyframe_requests import KeyframeRequestManager
from liveloop_sfu.media.core.nack_generator import NackGenerator
from liveloop_sfu.media.core.reception import ReceptionStats
from liveloop_sfu.media.core.rtp import ReportBlock, RtpView
from liveloop_sfu.media.core.seq import add16, wrap16
from liveloop_sfu.media.core.simulcast import LayerStats
from liveloop_sfu.media.core.subscription import Subscription

if TYPE_CHECKING:
    from liveloop_sfu.media.core.forwarder import ForwarderSettings

__all__ = ["Layer", "largest_layer", "recording_layer", "report_blocks", "switch_layer"]


class Layer:
    """One incoming stream. ``rid`` is its simulcast name ("" without simulcast); ``ssrc`` is
    ``None`` until known: latched from the first packet without simulcast, learnt from the RID
    extension with it (:meth:`~.forwarder.Forwarder.learn_layer`)."""

    def __init__(
        self,
        index: int,
        rid: str,
        ssrc: int | None,
        settings: ForwarderSettings,
        *,
        simulcast: bool,
        clock_rate: int = 90000,
    ) -> None:
        self.index = index
        self.rid = rid
        self.ssrc = ssrc
        self.rtx_ssrc: int | None = None
        self.subs: list[Subscription] = []
        self.joining: list[Subscription] = []  # switch to this layer at its next keyframe
        self.stats: LayerStats | None = LayerStats() if simulcast else None
        self.reception: ReceptionStats | None = ReceptionStats(clock_rate) if simulcast else None
        self.keyframes = KeyframeRequestManager(
            settings.keyframe_min_interval,
            settings.keyframe_retry_interval,
            settings.keyframe_max_attempts,
        )
        self.nacks = NackGenerator() if settings.generate_nacks else None
        # (now at arrival, RTP ts) and (NTP seconds, RTP ts) of the publisher's last SR.
        self.publisher_sr: tuple[float, int] | None = None
        self.publisher_ntp: tuple[float, int] | None = None
        # Input stage: extended (unwrapped) sequence numbers and a ring of recently seen ones.
        self.max_ext = -1
        self.shift = 0  # added to input seqs after a publisher restarted its sequence
        self._probation = -1  # RFC 3550 A.1: a far-off seq, confirmed if the next one follows it
        self._window = settings.reorder_window
        self._seen = [-1] * settings.reorder_window

    def accept(self, view: RtpView, drops: DropCounters) -> int:
        """Input stage: sequence unwrap, duplicate and reorder-window filter. Returns the
        extended sequence number, or -1 when the packet is dropped (counted in ``drops``)."""
        seq = (view.seq + self.shift) & 0xFFFF  # = add16(view.seq, self.shift), inlined
        max_ext = self.max_ext
        if max_ext < 0:
            # One cycle up, so packets sent just before the first one to arrive (reordered
            # across the 16-bit wrap, e.g. a keyframe at 65535 behind a packet at 0) still get a
            # non-negative extended number instead of being dropped as too old.
            ext = seq + 0x10000
        else:
            # Unwrap relative to the newest: the nearest extended value with these low 16 bits.
            # = extend16(max_ext, seq), inlined: this runs per packet.
            ext = max_ext + (((seq - max_ext + 0x8000) & 0xFFFF) - 0x8000)
            if ext <= max_ext - self._window or ext < 0:
                ext = self._far_off(view.seq)
                if ext < 0:
                    drops.add(DropReason.TOO_OLD)
                    return -1
        slot = ext % self._window
        if self._seen[slot] == ext:
            drops.add(DropReason.DUPLICATE)
            return -1
        self._seen[slot] = ext
        if ext > max_ext:
            self.max_ext = ext
        return ext

    def _far_off(self, seq: int) -> int:
        """A sequence number far outside the window: RFC 3550 A.1 treats two consecutive ones as
        a restarted sequence (a publisher that reset its encoder keeps its SSRC). Then input is
        re-based so the new sequence continues the old one and subscribers see no jump."""
        if seq != self._probation:
            self._probation = add16(seq, 1)
            return -1
        self._probation = -1
        # The previous far-off packet (seq - 1) was dropped: it becomes the missing max_ext + 1.
        self.shift = wrap16(self.max_ext + 2 - seq)
        if self.nacks is not None:
            self.nacks.reset()
        return self.max_ext + 2

    def drop_for_all(self, ext: int, reason: DropReason) -> None:
        """No subscriber of this layer gets this packet: close their sequence gaps."""
        for sub in self.subs:
            sub.skip(ext, reason)


def largest_layer(layers: list[Layer]) -> Layer:
    """The layer a new subscriber starts on: the largest seen (keyframe size, bit rate); before
    any is seen, the last one the publisher listed."""
    best = layers[-1]
    for layer in layers:
        stats, best_stats = layer.stats, best.stats
        if stats is not None and best_stats is not None and stats.rank() > best_stats.rank():
            best = layer
    return best


def recording_layer(layers: list[Layer]) -> Layer | None:
    """The layer a recording takes (one stream per file): the largest, once every layer the
    publisher sends (two at least) has shown a keyframe; ``None`` before."""
    known = [x for x in layers if x.ssrc is not None and x.stats is not None]
    if len(known) < 2 or any(x.stats is None or x.stats.keyframe_at < 0 for x in known):
        return None
    return max(known, key=lambda x: x.stats.rank() if x.stats is not None else (0, 0))


def report_blocks(layers: list[Layer], now: float) -> list[ReportBlock]:
    """One receiver report block per simulcast layer heard from (RFC 3550 §6.4.2)."""
    blocks: list[ReportBlock] = []
    for layer in layers:
        reception = layer.reception
        block = reception.report_block(now) if reception is not None else None
        if block is not None:
            blocks.append(block)
    return blocks


def switch_layer(
    sub: Subscription, old: Layer, new: Layer, now: float, ts: int, clock_rate: int
) -> None:
    """Move ``sub`` from ``old`` to ``new``, whose keyframe (timestamp ``ts``) it gets next:
    its output continues seamlessly (:meth:`.Subscription.switch_source`), and its sender
    reports follow the new layer's."""
    old.subs.remove(sub)
    sub.switch_source(now, ts, timestamp_delta(old, new, clock_rate))
    sub.sender_report_state.forget_publisher()
    if new.publisher_sr is not None:
        sub.sender_report_state.on_publisher_sr(*new.publisher_sr)
    sub.layer = new.index
    sub.target_layer = -1
    new.subs.append(sub)


def timestamp_delta(old: Layer, new: Layer, clock_rate: int) -> int | None:
    """What to add to a timestamp of ``new`` to put it on ``old``'s timeline, from both layers'
    last sender reports (RFC 3550 §6.4.1: an SR pairs the stream's RTP timestamp with the
    sender's NTP time, the same wallclock for every layer of one encoder); ``None`` without
    both."""
    if old.publisher_ntp is None or new.publisher_ntp is None:
        return None
    old_ntp, old_ts = old.publisher_ntp
    new_ntp, new_ts = new.publisher_ntp
    return old_ts + round((new_ntp - old_ntp) * clock_rate) - new_ts
