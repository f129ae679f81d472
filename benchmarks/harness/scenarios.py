"""Scenario scheduling for ``liveloop-sfu bench``: who starts when, in which process, in which
room, for how long. Pure: a seeded ``random.Random`` and plain values in, frozen plans out, so the
unit tests read the schedule without running anything.

Scenarios (``--scenario``):

* ``steady``: clients/2 1:1 calls through the matchmaker, each lasting the whole run.
* ``churn``: random 1:1 through the matchmaker; every user hangs up after a call of random length
  (``--call-min``..``--call-max`` seconds) and presses Next (``stop-call`` + ``request-room``).
* ``group``: rooms of ``--room-size`` participants (``join-room``), everybody publishes and
  receives everybody else.
* ``fanout``: rooms of one publisher and many receivers: one room, or rooms of at most
  :data:`FANOUT_ROOM_MAX` when there are more clients (the node's largest room); each room's
  first participant publishes, everybody else only receives.

Users start spread evenly over ``--ramp-up`` seconds (both ends of a 1:1 call at once). A pair
(steady, churn) or a room (group, fanout) stays in one client process, so a call's two ends share
one clock for latency; whole pairs/rooms are dealt to the processes in turn.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

SCENARIOS = ("steady", "churn", "group", "fanout")
MAX_CLIENTS = 400
MAX_DURATION = 3600.0
MAX_CALLS_PER_USER = 1000
# The largest fan-out room (``--max-room-participants`` accepts up to 64; the bench's own nodes
# are started with it): more clients make more rooms, as evenly filled as possible.
FANOUT_ROOM_MAX = 64


class ScenarioError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class ScenarioConfig:
    kind: str = "steady"
    clients: int = 4
    duration: float = 20.0
    ramp_up: float = 2.0
    room_size: int = 4
    call_min: float = 5.0
    call_max: float = 15.0
    seed: int = 1

    def validate(self) -> None:
        if self.kind not in SCENARIOS:
            raise ScenarioError(f"scenario must be one of {', '.join(SCENARIOS)}")
        if not 2 <= self.clients <= MAX_CLIENTS:
            raise ScenarioError(f"clients must be within 2..{MAX_CLIENTS}")
        if not 0 < self.duration <= MAX_DURATION:
            raise ScenarioError(f"duration must be within (0, {MAX_DURATION:g}] seconds")
        if not 0 <= self.ramp_up < self.duration:
            raise ScenarioError("ramp-up must be at least 0 and shorter than the duration")
        if self.kind == "group" and not 2 <= self.room_size <= self.clients:
            raise ScenarioError("room size must be within 2..clients")
        if self.kind == "churn" and not 0 < self.call_min <= self.call_max:
            raise ScenarioError("churn needs 0 < call-min <= call-max")


@dataclass(frozen=True, slots=True)
class UserPlan:
    """One synthetic user. ``start`` is seconds after the run's start; ``calls`` the length of
    each successive 1:1 call (steady: one call as long as the run); ``room`` the group room to
    join (group, fanout), else ``None``; ``publish`` False: receive only (fanout audience)."""

    name: str
    start: float
    process: int
    unit: int = 0  # the pair or room this user belongs to (numbered across the run)
    room: str | None = None
    publish: bool = True
    calls: tuple[float, ...] = field(default_factory=tuple)


def call_lengths(rng: random.Random, duration: float, low: float, high: float) -> tuple[float, ...]:
    """Random call lengths in [low, high] that together cover ``duration`` (bounded)."""
    lengths: list[float] = []
    total = 0.0
    while total < duration and len(lengths) < MAX_CALLS_PER_USER:
        length = rng.uniform(low, high)
        lengths.append(round(length, 3))
        total += length
    return tuple(lengths)


def groups_for(config: ScenarioConfig) -> list[int]:
    """Sizes of the units that must share a process: pairs, rooms, or the fan-out rooms."""
    if config.kind in ("steady", "churn"):
        return [2] * (config.clients // 2)
    if config.kind == "fanout":
        rooms = -(-config.clients // FANOUT_ROOM_MAX)
        size, extra = divmod(config.clients, rooms)
        return [size + 1] * extra + [size] * (rooms - extra)
    full, rest = divmod(config.clients, config.room_size)
    return [config.room_size] * full + ([rest] if rest >= 2 else [])


def plan(config: ScenarioConfig, processes: int) -> list[UserPlan]:
    """Every user of the run, in start order."""
    config.validate()
    rng = random.Random(config.seed)
    sizes = groups_for(config)
    total = sum(sizes)
    users: list[UserPlan] = []
    index = 0
    for unit, size in enumerate(sizes):
        process = unit % max(1, min(processes, len(sizes)))
        first = index
        for member in range(size):
            # The two ends of a call arrive together (match latency then measures the node, not
            # the ramp); room members arrive one by one (each arrival renegotiates the room).
            arrival = first if config.kind in ("steady", "churn") else index
            start = round(config.ramp_up * arrival / total, 3) if total > 1 else 0.0
            name = f"u{index:03d}"
            if config.kind == "churn":
                calls = call_lengths(rng, config.duration - start, config.call_min, config.call_max)
                users.append(UserPlan(name, start, process, unit, calls=calls))
            elif config.kind == "steady":
                length = (config.duration - start,)
                users.append(UserPlan(name, start, process, unit, calls=length))
            else:
                publish = config.kind == "group" or member == 0
                users.append(UserPlan(name, start, process, unit, f"room{unit:03d}", publish))
            index += 1
    return users


def by_process(users: list[UserPlan]) -> dict[int, list[UserPlan]]:
    out: dict[int, list[UserPlan]] = {}
    for user in users:
        out.setdefault(user.process, []).append(user)
    return out


def expected_streams(config: ScenarioConfig) -> int:
    """Streams the node forwards once everybody is in (a stream = one publisher's media to one
    subscriber): pairs forward 2, a room of n forwards n(n-1), a fan-out room n-1."""
    sizes = groups_for(config)
    if config.kind == "fanout":
        return sum(n - 1 for n in sizes)
    return sum(n * (n - 1) for n in sizes)
