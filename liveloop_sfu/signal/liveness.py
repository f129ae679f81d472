"""When a socket last answered the node's ping: its last sign of life at the engine.io level.

A client in a p2p call sends the node nothing but pongs (its media goes to the partner), so when
its socket reaches the ping timeout — a frozen tab, or a browser whose network just changed and
whose old socket died with the old network — the last pong is the only time from which the
vanish budget (rooms/records.py, ``VANISH_BUDGET``) can be measured (rooms/resume.py).

python-engineio tells its handlers neither that time nor anything about pongs. What it keeps is
``last_ping``, the wall-clock time of the ping it sent and never heard an answer to; it sends
each ping ``ping_interval`` after the previous pong (engine.io protocol v4, "Heartbeat"), so the
last pong came ``ping_interval`` before that ping. Under load the ping's timer fires late, which
makes the estimate a little *later* than the real pong: the node's ``VANISH_MARGIN`` covers that.
"""

from __future__ import annotations

import time
from typing import Any

NAMESPACE = "/"


def pong_time(ping_sent: float, ping_interval: float, now_wall: float, now: float) -> float:
    """The last pong, as ``time.monotonic()``: ``ping_interval`` before the unanswered ping sent
    at wall-clock ``ping_sent``, with ``now_wall`` and ``now`` the same instant on both clocks."""
    return now - (now_wall - ping_sent) - ping_interval


def last_pong(sio: Any, sid: str) -> float | None:
    """When (``time.monotonic()``) the socket.io socket ``sid`` last answered a ping; None when
    its engine.io socket is gone or has no ping outstanding (it answered the last one, so it did
    not time out). Read it in the disconnect handler, before anything awaits: engine.io forgets
    the socket soon after."""
    eio = getattr(sio, "eio", None)
    manager = getattr(sio, "manager", None)
    if eio is None or manager is None:
        return None
    eio_sid = manager.eio_sid_from_sid(sid, NAMESPACE)
    socket = eio.sockets.get(eio_sid) if eio_sid is not None else None
    ping_sent = getattr(socket, "last_ping", None)
    if not isinstance(ping_sent, float | int):
        return None
    return pong_time(float(ping_sent), float(eio.ping_interval), time.time(), time.monotonic())
