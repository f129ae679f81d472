"""Random JSON at every registered event, through the real handlers and RoomService (p2p, so no
media plane): no handler crashes (never ``internal``), every ack is well-formed, and once the
clients disconnect nothing is left behind."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import socketio
from hypothesis import HealthCheck, given, settings
from hypothesis import event as note_event
from hypothesis import strategies as st

from liveloop_sfu.config import RoomSettings
from liveloop_sfu.errors import ERROR_CODES
from liveloop_sfu.matchmaking.memory import MemoryMatchmaker
from liveloop_sfu.rooms.groups import GroupRooms
from liveloop_sfu.rooms.service import RoomService
from liveloop_sfu.signal.handlers import SignalHandlers
from liveloop_sfu.signal.limits import Limiter, LimitSettings, Rate

CLIENTS = ("s0", "s1", "s2")
LIFECYCLE = {"connect", "disconnect", "*"}
# Far above anything a test sequence can spend: here the handlers are under test, not the limits.
GENEROUS = LimitSettings(
    chat=Rate(1e6, 1e6), churn=Rate(1e6, 1e6), signaling=Rate(1e6, 1e6), other=Rate(1e6, 1e6)
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=12,
)
SDP = st.sampled_from(["v=0\r\n", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nm=audio 9 x 0\r\n"])
CANDIDATE = st.fixed_dictionaries(
    {
        "candidate": st.sampled_from(["", "candidate:1 1 udp 1 127.0.0.1 9 typ host", "x"]),
        "sdpMid": st.none() | st.text(max_size=3),
        "sdpMLineIndex": st.none() | st.integers(-1, 3),
    }
)
# Payloads of the right shape with fuzzed fields reach deeper than random JSON alone.
shaped = st.one_of(
    st.fixed_dictionaries(
        {"userName": st.text(max_size=40)},
        optional={"mode": json_scalars, "userImage": json_values},
    ),
    st.fixed_dictionaries(
        {"sdp": st.fixed_dictionaries({"type": st.sampled_from(["offer", "answer"]), "sdp": SDP})}
    ),
    st.fixed_dictionaries({"candidate": st.none() | CANDIDATE}),
    st.fixed_dictionaries({"message": st.text(max_size=30)}),
    st.fixed_dictionaries({"roomId": json_scalars, "userName": st.text(max_size=10)}),
)


class Harness:
    def __init__(self) -> None:
        self.sio = socketio.AsyncServer(async_mode="aiohttp")
        self.emitted: list[tuple[str, str]] = []
        self.matchmaker = MemoryMatchmaker()
        self.rooms = RoomService(RoomSettings(mode="p2p"), self.matchmaker, self._emit, None)
        self.limits = Limiter(GENEROUS)
        # A p2p node refuses group rooms, but only after validating the payload: join-room,
        # leave-room and media-state are fuzzed through the real group use cases.
        self.groups = GroupRooms(RoomSettings(mode="p2p"), self.rooms, self._emit, None)
        self.handlers = SignalHandlers(self.sio, self.rooms, self.limits, groups=self.groups)
        self.handlers.register()
        self.table = self.sio.handlers["/"]

    async def _emit(self, sid: str, event: str, payload: Mapping[str, Any]) -> None:
        assert sid in CLIENTS, sid  # the node only ever talks to its own clients
        self.emitted.append((sid, event))

    def events(self) -> list[str]:
        return sorted(set(self.table) - LIFECYCLE)

    async def send(self, sid: str, event: str, payload: Any) -> Any:
        if event in self.table:
            return await self.table[event](sid, payload)
        return await self.table["*"](event, sid, payload)


def check_ack(ack: Any) -> None:
    assert isinstance(ack, dict)
    if "error" in ack:
        assert ack["error"]["code"] in ERROR_CODES
        assert ack["error"]["code"] != "internal", ack
        assert isinstance(ack["error"]["message"], str)
    else:
        assert ack.get("ok") is True


EVENT_NAMES = [*Harness().events(), "unknown-event", "connect", "__proto__"]
random_step = st.tuples(
    st.sampled_from(CLIENTS), st.sampled_from(EVENT_NAMES), json_values | shaped
)
# Valid joins get clients into calls, so the relays and call-only events are exercised too.
join_step = st.tuples(st.sampled_from(CLIENTS), st.just("request-room"), st.just({"userName": "a"}))
steps = st.lists(
    random_step | join_step,
    min_size=1,
    max_size=25,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_random_events_never_crash_and_leave_nothing_behind(
    sequence: list[tuple[str, str, Any]],
) -> None:
    async def run() -> None:
        harness = Harness()
        for sid in CLIENTS:
            await harness.table["connect"](sid, {})
        for sid, event, payload in sequence:
            if event == "connect":
                continue  # lifecycle events come from the transport, not from clients
            check_ack(await harness.send(sid, event, payload))
        # Shown by --hypothesis-show-statistics: how often a call (and its relays) was reached.
        note_event("reached a call" if ("s0", "match-done") in harness.emitted else "no call")
        for sid in CLIENTS:
            await harness.table["disconnect"](sid, "client disconnect")
        status = await harness.rooms.status()
        # Admission is the node's self-measurement (rooms/saturation.py): not refusing here.
        assert status.pop("admission")["refusing"] is None
        assert status == {
            "connectedSockets": 0,
            "waitingUsers": 0,
            "activeRooms": {"sfu": 0, "p2p": 0},
            "forwardedStreams": 0,
            "groupRooms": 0,
        }
        assert harness.rooms.active_rooms() == []
        assert harness.handlers._locks == {}
        assert all(harness.limits.connections(ip) == 0 for ip in ("unknown",))

    asyncio.run(run())


def test_every_registered_event_is_fuzzed() -> None:
    # New events (group rooms add join-room / leave-room / media-state) are picked up here.
    assert {"request-room", "stop-call", "newMessage", "send-new-ice-candidates"} <= set(
        EVENT_NAMES
    )
