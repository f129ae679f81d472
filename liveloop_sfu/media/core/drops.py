"""Why a packet was not forwarded: every drop has a named reason that metrics count.

Reasons are string enums so that metrics labels (``/metrics``, ``/api/status``) are the values
themselves. :class:`DropCounters` is a plain mapping of counts; the forwarder keeps one for the
whole track and one per subscriber.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["DropCounters", "DropReason"]


class DropReason(StrEnum):
    """Why a packet, or one subscriber's copy of it, was not sent."""

    MALFORMED = "malformed"
    """Not parseable as RTP (RFC 3550 §5.1), or an RTX packet without a valid OSN."""
    WRONG_SSRC = "wrong-ssrc"
    """The SSRC is not the one this track forwards."""
    DUPLICATE = "duplicate"
    """The same input sequence number was already handled (e.g. an upstream RTX of a packet that
    did arrive)."""
    TOO_OLD = "too-old"
    """Older than the reordering window, or than the first packet forwarded to this subscriber."""
    PADDING_ONLY = "padding-only"
    """No payload (bandwidth probing); subscribers get no sequence-number gap for it."""
    UNKNOWN_PAYLOAD_TYPE = "unknown-payload-type"
    """The publisher's payload type is not negotiated with this subscriber (or not at all)."""
    WAITING_FOR_KEYFRAME = "waiting-for-keyframe"
    """The subscriber's keyframe gate is closed and this packet does not begin a keyframe."""
    SUBSCRIBER_PAUSED = "subscriber-paused"
    """The subscription is paused (muted on the node)."""
    EGRESS_NOT_READY = "egress-not-ready"
    """The subscriber's DTLS/SRTP is not up yet: anything sent would be lost."""
    LAYER_TOO_LARGE = "layer-too-large"
    """A simulcast layer far above what the subscriber's downlink carries, held back while the
    smaller layer it switches to sends its keyframe; subscribers get no sequence-number gap."""
    TEMPORAL_LAYER = "temporal-layer"
    """A temporal layer above what the subscriber's downlink takes (a simulcast video whose
    smallest layer does not fit); subscribers get no sequence-number gap for it."""


class DropCounters(dict[DropReason, int]):
    """Counts per reason; missing reasons count zero."""

    def add(self, reason: DropReason, count: int = 1) -> None:
        self[reason] = self.get(reason, 0) + count

    def __missing__(self, key: DropReason) -> int:
        return 0

    @property
    def total(self) -> int:
        return sum(self.values())

    def as_labels(self) -> dict[str, int]:
        """``{"waiting-for-keyframe": 3, ...}`` for metrics exporters."""
        return {reason.value: count for reason, count in self.items()}
