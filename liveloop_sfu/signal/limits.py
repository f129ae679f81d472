"""Abuse limits: token buckets per connection and per client address, with time as a parameter.

Every client event belongs to a class (chat, churn, signaling, other); each class has one token
bucket per connection and one per client IP (the per-IP bucket is the per-connection one times
``ip_multiplier``, so a handful of honest users behind one NAT still fit). An event that finds
either bucket empty is refused with ``rate-limited``; every refusal also takes a token from the
connection's *strike* bucket, and a connection that runs out of strikes — it keeps flooding
after being told — is disconnected.

Nothing here awaits or reads a clock: callers pass ``now`` (seconds, monotonic), so the whole
policy is tested without sleeps. Buckets that have refilled completely are forgotten (a full
bucket is the same as a fresh one), which keeps memory bounded by the clients that are active.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

from liveloop_sfu.config.limits import LimitSettings, Rate, parse_rate
from liveloop_sfu.errors import InvalidPayload, RateLimited

__all__ = [
    "CHAT_EVENTS",
    "CHURN_EVENTS",
    "SIGNALING_EVENTS",
    "EventClass",
    "LimitSettings",
    "Limiter",
    "Rate",
    "TokenBucket",
    "Verdict",
    "client_ip",
    "count_media_sections",
    "parse_rate",
]


class EventClass(StrEnum):
    CHAT = "chat"
    CHURN = "churn"
    SIGNALING = "signaling"
    OTHER = "other"


CHAT_EVENTS = frozenset({"newMessage"})
# Entering and leaving rooms and the queue: each one costs a matchmaker round trip.
CHURN_EVENTS = frozenset({"request-room", "stop-call", "join-room", "leave-room"})
SIGNALING_EVENTS = frozenset(
    {"negotiation-call-offer", "negotiation-call-answer", "send-new-ice-candidates"}
)


def event_class(event: str) -> EventClass:
    """Events nobody listed here (new ones, unknown ones) fall in ``other``: never unlimited."""
    if event in CHAT_EVENTS:
        return EventClass.CHAT
    if event in CHURN_EVENTS:
        return EventClass.CHURN
    if event in SIGNALING_EVENTS:
        return EventClass.SIGNALING
    return EventClass.OTHER


def class_rate(settings: LimitSettings, cls: EventClass) -> Rate:
    """The per-connection rate of one class of events."""
    return {
        EventClass.CHAT: settings.chat,
        EventClass.CHURN: settings.churn,
        EventClass.SIGNALING: settings.signaling,
        EventClass.OTHER: settings.other,
    }[cls]


@dataclass(slots=True)
class TokenBucket:
    rate: Rate
    tokens: float
    updated: float

    @classmethod
    def full(cls, rate: Rate, now: float) -> TokenBucket:
        return cls(rate, rate.burst, now)

    def refill(self, now: float) -> None:
        # A clock that went backwards (it should not: callers pass monotonic time) refills nothing.
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.rate.burst, self.tokens + elapsed * self.rate.per_second)
        self.updated = max(self.updated, now)

    def available(self, now: float) -> bool:
        self.refill(now)
        return self.tokens >= 1.0

    def take(self, now: float) -> bool:
        """Take one token if there is one."""
        if not self.available(now):
            return False
        self.tokens -= 1.0
        return True

    def is_full(self, now: float) -> bool:
        self.refill(now)
        return self.tokens >= self.rate.burst


class Verdict(StrEnum):
    ALLOW = "allow"
    REFUSE = "refuse"
    DISCONNECT = "disconnect"


@dataclass(slots=True)
class _Connection:
    ip: str
    buckets: dict[EventClass, TokenBucket] = field(default_factory=dict)
    strikes: TokenBucket | None = None
    call: str | None = None  # the call its candidates were counted for
    candidates: int = 0


class Limiter:
    """All limits of one node. Keys are opaque connection ids (socket ids) and IP strings."""

    def __init__(self, settings: LimitSettings) -> None:
        self.settings = settings
        self._connections: dict[str, _Connection] = {}
        self._per_ip: Counter[str] = Counter()  # open connections per IP
        self._ip_buckets: dict[tuple[str, EventClass], TokenBucket] = {}
        self._connect_buckets: dict[str, TokenBucket] = {}  # new connections per IP
        self.refused: Counter[str] = Counter()  # by event class, plus "connection"
        self.disconnected = 0

    # -- connections -----------------------------------------------------------------------------

    def open(self, conn: str, ip: str, now: float) -> None:
        """Register a new connection, or raise RateLimited when its address has too many open
        or opens them too fast."""
        if self._per_ip[ip] >= self.settings.max_connections_per_ip:
            self.refused["connection"] += 1
            raise RateLimited(f"at most {self.settings.max_connections_per_ip} connections")
        bucket = self._connect_buckets.get(ip)
        if bucket is None:
            bucket = self._connect_buckets[ip] = TokenBucket.full(self.settings.connect, now)
        if not bucket.take(now):
            self.refused["connection-rate"] += 1
            raise RateLimited(f"at most {self.settings.connect} new connections per second")
        self._per_ip[ip] += 1
        self._connections[conn] = _Connection(ip)

    def close(self, conn: str) -> None:
        state = self._connections.pop(conn, None)
        if state is None:
            return
        self._per_ip[state.ip] -= 1
        if self._per_ip[state.ip] <= 0:
            del self._per_ip[state.ip]

    def connections(self, ip: str) -> int:
        return self._per_ip[ip]

    # -- events ----------------------------------------------------------------------------------

    def check(self, conn: str, event: str, now: float) -> Verdict:
        """Charge one ``event`` to the connection and its address."""
        state = self._connections.get(conn)
        if state is None:
            return Verdict.REFUSE
        cls = event_class(event)
        rate = class_rate(self.settings, cls)
        mine = state.buckets.get(cls) or state.buckets.setdefault(cls, TokenBucket.full(rate, now))
        key = (state.ip, cls)
        shared = self._ip_buckets.get(key)
        if shared is None:
            shared = TokenBucket.full(rate.scaled(self.settings.ip_multiplier), now)
            self._ip_buckets[key] = shared
        # Both must have a token before either is charged: a refused event costs nothing but a
        # strike, so an honest user's address budget is not spent by a refused neighbour.
        if mine.available(now) and shared.available(now):
            mine.take(now)
            shared.take(now)
            return Verdict.ALLOW
        self.refused[cls.value] += 1
        if state.strikes is None:
            state.strikes = TokenBucket.full(self.settings.strikes, now)
        if state.strikes.take(now):
            return Verdict.REFUSE
        self.disconnected += 1
        return Verdict.DISCONNECT

    def count_candidate(self, conn: str, call: str | None) -> None:
        """One more trickled ICE candidate in ``call``; raise RateLimited past the cap."""
        state = self._connections.get(conn)
        if state is None:
            return
        if state.call != call:
            state.call, state.candidates = call, 0
        if state.candidates >= self.settings.max_candidates_per_call:
            self.refused["candidates"] += 1
            raise RateLimited(
                f"at most {self.settings.max_candidates_per_call} ICE candidates per call"
            )
        state.candidates += 1

    def check_sdp(self, sdp: str) -> None:
        """Refuse descriptions with more m-sections (tracks) than a peer may have."""
        sections = count_media_sections(sdp)
        if sections > self.settings.max_media_sections:
            raise InvalidPayload(
                f"at most {self.settings.max_media_sections} media sections per description"
            )

    def prune(self, now: float) -> None:
        """Forget per-IP buckets that are full again (a full bucket equals a fresh one)."""
        for key in [key for key, bucket in self._ip_buckets.items() if bucket.is_full(now)]:
            del self._ip_buckets[key]
        for ip in [ip for ip, bucket in self._connect_buckets.items() if bucket.is_full(now)]:
            del self._connect_buckets[ip]

    def tracked_ips(self) -> int:
        return len(
            {ip for ip, _ in self._ip_buckets} | set(self._per_ip) | set(self._connect_buckets)
        )


def count_media_sections(sdp: str) -> int:
    """m= lines (RFC 8866 §5.14): one per track or data channel the peer negotiates."""
    return sum(1 for line in sdp.splitlines() if line.startswith("m="))


def client_ip(peer: str | None, forwarded_for: str | None, trusted: tuple[str, ...]) -> str:
    """The client's address: the TCP peer, unless the peer is a trusted proxy, in which case the
    right-most ``X-Forwarded-For`` entry that is not itself a trusted proxy (entries further left
    were written by the client and prove nothing)."""
    address = _normalize(peer) or "unknown"
    if not forwarded_for or not _trusted(address, trusted):
        return address
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        normalized = _normalize(hop)
        if normalized is None:
            return address  # a garbled header from our own proxy: fall back to the proxy
        if not _trusted(normalized, trusted):
            return normalized
        address = normalized
    return address


def _normalize(text: str | None) -> str | None:
    if not text:
        return None
    try:
        ip = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def _trusted(address: str, trusted: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net, strict=False) for net in trusted)
