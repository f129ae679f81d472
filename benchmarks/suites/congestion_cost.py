"""What congestion control adds to a packet's cost, side by side with the packet without it.

``python -m benchmarks.suites.congestion_cost [--packets 20000] [--repeat 5] [--json F]``

The forwarding benchmark (``benchmarks.suites.forwarding``) drives the node with load clients
that negotiate no transport-cc, so it measures the forward path with feedback *off*. This one
measures, in one run, each part that transport-wide congestion control adds, next to what the
same packet costs without it:

- **ingress**: a publisher's packet read from a real UDP socket (loopback), with and without
  the kernel's receive time (``SIOCGSTAMP``, media/transport/srtp/packet_io.py) and the record
  of its transport-wide number for the feedback (``read_transport_sequence`` +
  ``TransportFeedbackBuilder.record``);
- **egress**: ``Forwarder.on_rtp`` to one subscriber, without and with the node's own
  transport-wide number stamped and recorded (media/core/sent_packets.py).

CPU time (``process_time``), the best of ``--repeat`` passes: a shared machine only ever adds
time. Ratios to the plain case are what to compare between runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import json
import socket
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks.suites.forwarder_core import _packets, measure
from liveloop_sfu.media.core.forwarder import SubscriberConfig
from liveloop_sfu.media.core.rewriter import ABS_SEND_TIME_URI, MID_URI
from liveloop_sfu.media.core.transport_feedback import (
    TransportFeedbackBuilder,
    read_transport_sequence,
)
from liveloop_sfu.media.transport.srtp.packet_io import _SIOCGSTAMP, _TIMEVAL

PUBLISHER_TCC_ID = 3  # forwarder_core's publisher extension ids
BATCH = 64  # datagrams in flight per socket round (well under the socket buffer)


def _socket_pass(packets: list[bytes], stamp: bool, record: bool) -> float:
    """CPU µs per datagram to receive ``packets`` over loopback, optionally with the kernel
    time and the transport-wide record; sending is done outside the timed part."""
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    rx.bind(("127.0.0.1", 0))
    address = rx.getsockname()
    fd = rx.fileno()
    buf = bytearray(_TIMEVAL.size)
    builder = TransportFeedbackBuilder()
    used = 0.0
    try:
        for start in range(0, len(packets), BATCH):
            batch = packets[start : start + BATCH]
            for data in batch:
                tx.sendto(data, address)
            began = time.process_time()
            for _ in batch:
                data, _ = rx.recvfrom(9216)
                now = time.monotonic()
                arrival = now
                if stamp:
                    fcntl.ioctl(fd, _SIOCGSTAMP, buf, True)
                    seconds, micros = _TIMEVAL.unpack_from(buf)
                    arrival = seconds + micros * 1e-6 - (time.time() - now)
                if record:
                    seq = read_transport_sequence(data, PUBLISHER_TCC_ID)
                    if seq >= 0:
                        builder.record(seq, int(arrival * 1_000_000.0))
            used += time.process_time() - began
            if record and builder.pending:
                builder.build(int(time.monotonic() * 1e6), 1, 2)  # as every 50 ms; untimed
    finally:
        rx.close()
        tx.close()
    return used * 1e6 / len(packets)


def _without_tcc(config: SubscriberConfig) -> SubscriberConfig:
    return dataclasses.replace(config, header_extensions={MID_URI: 1, ABS_SEND_TIME_URI: 5})


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.suites.congestion_cost")
    parser.add_argument("--packets", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    packets = _packets("video", args.packets)
    cases: list[tuple[str, str, Callable[[], float]]] = [
        ("ingress", "plain read", lambda: _socket_pass(packets, False, False)),
        ("ingress", "+ record", lambda: _socket_pass(packets, False, True)),
        ("ingress", "+ record + kernel time", lambda: _socket_pass(packets, True, True)),
        ("egress", "no transport-cc", lambda: measure("video", 1, packets, _without_tcc)),
        ("egress", "+ stamp and record", lambda: measure("video", 1, packets)),
    ]
    best = {name: float("inf") for _, name, _ in cases}
    for _ in range(max(1, args.repeat)):  # interleaved, so drift hits every case alike
        for _, name, run in cases:
            best[name] = min(best[name], run())
    rows = []
    base = {"ingress": best["plain read"], "egress": best["no transport-cc"]}
    print(f"{'side':<9}{'case':<26}{'µs/pkt':>8}{'added':>8}{'× plain':>9}")
    for side, name, _ in cases:
        us = best[name]
        rows.append(
            {"side": side, "case": name, "us_per_packet": us, "ratio_to_plain": us / base[side]}
        )
        print(f"{side:<9}{name:<26}{us:>8.2f}{us - base[side]:>8.2f}{us / base[side]:>9.2f}")
    if args.json is not None:
        args.json.write_text(json.dumps({"benchmark": "congestion_cost", "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
