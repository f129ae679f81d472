"""The abuse limits' settings (``--rate-*``, ``--max-*-per-*``): the policy that applies them is
``liveloop_sfu/signal/limits.py``, which imports these from here (settings sit below the layers
that use them)."""

from __future__ import annotations

from dataclasses import dataclass

from liveloop_sfu.config import parse
from liveloop_sfu.config.declare import setting
from liveloop_sfu.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Rate:
    """``per_second`` tokens refill continuously up to ``burst``."""

    per_second: float
    burst: float

    def __post_init__(self) -> None:
        if self.per_second <= 0 or self.burst < 1:
            raise ValueError("a rate needs per_second > 0 and burst >= 1")

    def scaled(self, factor: float) -> Rate:
        return Rate(self.per_second * factor, self.burst * factor)

    def __str__(self) -> str:
        return f"{self.per_second:g}/{self.burst:g}"


def parse_rate(text: str, flag: str) -> Rate:
    """``"2/10"`` = 2 events per second, bursts of up to 10 (raises ConfigError)."""
    try:
        rate, _, burst = text.partition("/")
        return Rate(float(rate), float(burst or rate))
    except ValueError as exc:
        raise ConfigError(f"{flag} must be RATE/BURST with RATE > 0, BURST >= 1: {text!r}") from exc


def _multiplier(raw: str, flag: str) -> float:
    value = float(parse.number(1e6, unit="")(raw, flag))
    if value < 1:
        raise ConfigError(f"{flag} must be at least 1")
    return value


def _per_connection(what: str) -> str:
    return f"per-connection limit on {what}, RATE/BURST per second (default {{default}})"


@dataclass(frozen=True, slots=True)
class LimitSettings:
    """The operator's limits. Defaults let a browser do everything the client does at human
    speed, with room for trickle ICE bursts and several users behind NAT."""

    chat: Rate = setting(Rate(2, 10), "--rate-chat", _per_connection("chat messages"), parse_rate)
    churn: Rate = setting(
        Rate(1, 10),
        "--rate-churn",
        _per_connection("request-room / stop-call / join-room / leave-room"),
        parse_rate,
    )
    signaling: Rate = setting(
        Rate(20, 100),
        "--rate-signaling",
        _per_connection("offers, answers and ICE candidates"),
        parse_rate,
    )
    other: Rate = setting(
        Rate(5, 20), "--rate-other", _per_connection("any other event"), parse_rate
    )
    # Per-IP bucket = per-connection bucket x this (users behind one NAT share an address).
    ip_multiplier: float = setting(
        10.0,
        "--rate-ip-multiplier",
        "per-address limit = per-connection limit x this (default {default})",
        _multiplier,
    )
    # Refusals a connection may collect (refilling at 1/s) before it is disconnected.
    strikes: Rate = setting(
        Rate(1, 20),
        "--rate-strikes",
        "refused events a connection may collect, RATE/BURST, before it is disconnected "
        "(default {default})",
        parse_rate,
    )
    max_connections_per_ip: int = setting(
        50,
        "--max-connections-per-ip",
        "open socket.io connections per client address (default {default})",
        parse.integer(1, 1_000_000),
    )
    # New connections per address (a reconnect loop is refused even while few are open at once).
    connect: Rate = setting(
        Rate(10, 100),
        "--rate-connect",
        "new socket.io connections per client address, RATE/BURST per second (default {default})",
        parse_rate,
    )
    max_candidates_per_call: int = setting(
        100,
        "--max-candidates-per-call",
        "ICE candidates a client may send per call (default {default})",
        parse.integer(1, 100_000),
    )
    # m-sections in one offer or answer (a group room needs two per other participant).
    max_media_sections: int = setting(
        32,
        "--max-media-sections",
        "m-sections (tracks) in one offer or answer (default {default})",
        parse.integer(1, 1024),
    )
