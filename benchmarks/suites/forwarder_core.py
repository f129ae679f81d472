"""Micro-benchmark of the sans-I/O forwarding core alone: CPU µs per packet in ``Forwarder.on_rtp``.

``python -m benchmarks.suites.forwarder_core [--packets 30000] [--subscribers 1,2,4] [--repeat 5]``

No sockets, no SRTP, no event loop: a VP8 track with the header extensions a browser sends
(mid, abs-send-time, transport-wide-cc) and Opus with audio-level, forwarded to N subscribers
whose negotiated extension ids differ from the publisher's (so every packet is really rewritten).
It isolates what :mod:`liveloop_sfu.media.core.forwarder` costs from what the whole node costs
(``python -m benchmarks.suites.forwarding``). The best of ``--repeat`` runs is reported, since a
shared machine only ever adds time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from liveloop_sfu.media.core.forwarder import Forwarder, SubscriberConfig, TrackConfig
from liveloop_sfu.media.core.rewriter import (
    ABS_SEND_TIME_URI,
    AUDIO_LEVEL_URI,
    MID_URI,
    TRANSPORT_CC_URI,
)
from liveloop_sfu.media.core.rtp import build_rtp

PUBLISHER_SSRC = 0x1234
VP8_KEY = b"\x10\x00\x9d\x01\x2a" + bytes(1100)  # VP8 descriptor S=1, key frame, ~1.1 kB
VP8_CONT = b"\x00\x00\x00" + bytes(1100)
OPUS = bytes(120)


def _track(kind: str) -> TrackConfig:
    if kind == "video":
        return TrackConfig(
            kind="video",
            ssrc=PUBLISHER_SSRC,
            clock_rate=90000,
            codecs={96: "VP8"},
            header_extensions={4: MID_URI, 2: ABS_SEND_TIME_URI, 3: TRANSPORT_CC_URI},
            rtx_payload_types={97: 96},
        )
    return TrackConfig(
        kind="audio",
        ssrc=PUBLISHER_SSRC,
        clock_rate=48000,
        codecs={111: "opus"},
        header_extensions={4: MID_URI, 1: AUDIO_LEVEL_URI, 3: TRANSPORT_CC_URI},
    )


def _subscriber(kind: str, index: int) -> SubscriberConfig:
    uris = {MID_URI: 1, ABS_SEND_TIME_URI: 5, TRANSPORT_CC_URI: 6, AUDIO_LEVEL_URI: 7}
    return SubscriberConfig(
        subscriber_id=f"s{index}",
        ssrc=0x5000 + index,
        payload_types={96: 98} if kind == "video" else {111: 109},
        header_extensions=uris,
        mid=str(index),
        rtx_ssrc=0x6000 + index if kind == "video" else None,
        rtx_payload_types={98: 99} if kind == "video" else {},
    )


def _packets(kind: str, count: int) -> list[bytes]:
    out = []
    for i in range(count):
        if kind == "video":
            payload = VP8_KEY if i == 0 else VP8_CONT
            extensions = [(4, b"0"), (2, b"\x00\x01\x02"), (3, (i & 0xFFFF).to_bytes(2, "big"))]
            pt, ts = 96, (i // 4) * 3000
        else:
            payload = OPUS
            extensions = [(4, b"1"), (1, b"\x90"), (3, (i & 0xFFFF).to_bytes(2, "big"))]
            pt, ts = 111, i * 960
        out.append(
            build_rtp(
                pt=pt,
                seq=i,
                ts=ts,
                ssrc=PUBLISHER_SSRC,
                payload=payload,
                marker=i % 4 == 3,
                extensions=extensions,
            )
        )
    return out


def measure(
    kind: str,
    subscribers: int,
    packets: list[bytes],
    configure: Callable[[SubscriberConfig], SubscriberConfig] = lambda config: config,
) -> float:
    """CPU µs per input packet for one pass over ``packets`` (``configure`` may change what
    each subscriber negotiated)."""
    forwarder = Forwarder(_track(kind))
    for index in range(subscribers):
        forwarder.add_subscriber(0.0, configure(_subscriber(kind, index)))
    on_rtp = forwarder.on_rtp
    now = 0.0
    sent = 0
    started = time.process_time()
    for data in packets:
        now += 0.001
        sent += len(on_rtp(now, data))
    used = time.process_time() - started
    if sent != len(packets) * subscribers:
        raise RuntimeError(f"{kind}: forwarded {sent} of {len(packets) * subscribers} packets")
    return used * 1e6 / len(packets)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.suites.forwarder_core")
    parser.add_argument("--packets", type=int, default=30000)
    parser.add_argument("--subscribers", default="1,2,4")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    counts = [int(x) for x in args.subscribers.split(",") if x.strip()]
    rows = []
    print(f"{'kind':<6}{'subs':>5}{'µs/pkt in':>11}{'µs/pkt out':>12}")
    for kind in ("video", "audio"):
        packets = _packets(kind, args.packets)
        for subscribers in counts:
            best = min(measure(kind, subscribers, packets) for _ in range(max(1, args.repeat)))
            rows.append({"kind": kind, "subscribers": subscribers, "us_per_packet_in": best})
            print(f"{kind:<6}{subscribers:>5}{best:>11.2f}{best / subscribers:>12.2f}")
    if args.json is not None:
        args.json.write_text(json.dumps({"benchmark": "forwarder_core", "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
