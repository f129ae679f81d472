"""The node's registry: process_* metrics of this process, and the call-quality histograms fed
by the media sessions' RTCP report blocks (liveloop_sfu/http/metrics.py)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import pytest

from liveloop_sfu.config import LimitSettings, RoomSettings
from liveloop_sfu.http.metrics import NodeMetrics
from liveloop_sfu.matchmaking.memory import MemoryMatchmaker
from liveloop_sfu.media.session import QualitySample
from liveloop_sfu.rooms.service import RoomService
from liveloop_sfu.signal.limits import Limiter


def node_metrics() -> NodeMetrics:
    """A p2p node's metrics with its (empty) rooms attached, as app.py wires them."""
    metrics = NodeMetrics(Limiter(LimitSettings()))
    rooms = RoomService(RoomSettings(mode="p2p"), MemoryMatchmaker(), _no_emit, None)
    metrics.attach(rooms)
    return metrics


async def _no_emit(sid: str, event: str, payload: Mapping[str, Any]) -> None:
    raise AssertionError("nothing is sent to clients here")


def test_process_metrics_are_on_the_nodes_own_registry() -> None:
    registry = node_metrics().registry
    assert (registry.get_sample_value("process_cpu_seconds_total") or 0) > 0
    assert (registry.get_sample_value("process_resident_memory_bytes") or 0) > 0
    fds = registry.get_sample_value("process_open_fds")
    assert fds == pytest.approx(len(os.listdir("/proc/self/fd")), abs=5)
    # Two nodes in one process (tests do this) each have their own: no duplicate registration.
    assert node_metrics().registry.get_sample_value("process_max_fds") is not None


@pytest.mark.parametrize(
    ("sample", "bucket", "count_le"),
    [
        # 64/256 lost, 900 timestamp units of jitter at 90 kHz: a quarter, 10 ms.
        (QualitySample("egress", "video", 0.25, 0.01, 0.12), "0.3", 1),
        (QualitySample("egress", "video", 0.25, 0.01, 0.12), "0.2", 0),
        (QualitySample("ingress", "audio", 0.0, 0.0005, None), "0.0", 1),
    ],
)
def test_quality_samples_land_in_their_buckets(
    sample: QualitySample, bucket: str, count_le: int
) -> None:
    metrics = node_metrics()
    metrics.quality.observe(sample)
    labels = {"direction": sample.direction, "kind": sample.kind}
    value = metrics.registry.get_sample_value
    assert value("liveloop_rtcp_fraction_lost_bucket", {**labels, "le": bucket}) == count_le
    assert value("liveloop_rtcp_jitter_seconds_sum", labels) == pytest.approx(sample.jitter)
    rtt_count = value("liveloop_rtcp_rtt_seconds_count", labels)
    assert rtt_count == (1 if sample.rtt is not None else None)
