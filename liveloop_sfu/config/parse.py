"""Parsers of the settings' text (a flag's value or an environment variable), with the messages
the operator sees. Each returns a :data:`~liveloop_sfu.config.declare.Parse`: ``(text, flag)``
to value, raising :class:`ConfigError`. An empty text never reaches them: it means "default"."""

from __future__ import annotations

import ipaddress
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from liveloop_sfu.config.declare import Parse
from liveloop_sfu.errors import ConfigError

_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def text(raw: str, flag: str) -> str:
    return raw


def path(raw: str, flag: str) -> Path:
    return Path(raw)


def secret(min_length: int = 0) -> Parse:
    """A secret; shorter than ``min_length`` is refused (and never echoed)."""

    def parse(raw: str, flag: str) -> str:
        if len(raw) < min_length:
            raise ConfigError(f"{flag} must be at least {min_length} characters")
        return raw

    return parse


def choice(options: Sequence[str], *, lower: bool = False) -> Parse:
    """One of ``options``. ``lower``: case-insensitive (log level and format), whose message
    lists the options only; the others also quote what was given."""

    def parse(raw: str, flag: str) -> str:
        value = raw.lower() if lower else raw
        if value in options:
            return value
        given = "" if lower else f", not {value!r}"
        raise ConfigError(f"{flag} must be one of {', '.join(options)}{given}")

    return parse


def integer(low: int, high: int) -> Parse:
    def parse(raw: str, flag: str) -> int:
        try:
            number = int(raw)
        except ValueError as exc:
            raise ConfigError(f"{flag} must be an integer") from exc
        if not low <= number <= high:
            raise ConfigError(f"{flag} must be between {low} and {high}")
        return number

    return parse


def number(maximum: float = 3600, unit: str = " seconds", *, zero: bool = False) -> Parse:
    """A number strictly between 0 and ``maximum``; ``zero``: exactly ``0`` is allowed too
    (``--resume-grace 0`` turns resume off)."""

    def parse(raw: str, flag: str) -> float:
        if zero and raw in ("0", "0.0"):
            return 0.0
        try:
            value = float(raw)
        except ValueError as exc:
            raise ConfigError(f"{flag} must be a number") from exc
        if not 0 < value < maximum:
            raise ConfigError(f"{flag} must be between 0 and {maximum:g}{unit}")
        return value

    return parse


def duration(raw: str, flag: str) -> float:
    """Seconds from ``"90"``, ``"15m"``, ``"12h"`` or ``"30d"``; 0 = no limit."""
    value = raw.strip().lower()
    unit = _DURATION_UNITS.get(value[-1:], 0)
    amount = value[:-1] if unit else value
    try:
        seconds = float(amount) * (unit or 1)
    except ValueError as exc:
        raise ConfigError(f"{flag} must be seconds or N[s|m|h|d]") from exc
    if seconds < 0:
        raise ConfigError(f"{flag} must not be negative")
    return seconds


def boolean(raw: str, flag: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{flag} must be true or false, not {value!r}")


def csv(raw: Any) -> tuple[str, ...]:
    if not raw:
        return ()
    return tuple(part.strip() for part in str(raw).split(",") if part.strip())


def words(raw: str, flag: str) -> tuple[str, ...]:
    """A comma-separated list (spaces around items ignored)."""
    return csv(raw)


def urls(schemes: tuple[str, ...], what: str) -> Parse:
    """A comma-separated list of URLs, each starting with one of ``schemes``."""

    def parse(raw: str, flag: str) -> tuple[str, ...]:
        listed = csv(raw)
        for url in listed:
            if not url.startswith(schemes):
                raise ConfigError(f"{flag} must be {what} URLs, got {url!r}")
        return listed

    return parse


def url(schemes: tuple[str, ...]) -> Parse:
    def parse(raw: str, flag: str) -> str:
        value = raw.strip()
        if not value.startswith(schemes):
            raise ConfigError(f"{flag} must start with {', '.join(schemes)}")
        return value

    return parse


def command(raw: str, flag: str) -> tuple[str, ...]:
    """A command line split as a POSIX shell would split it (quotes, backslashes), never run by
    one: ``rclone copy --config "/etc/my rclone.conf" remote:rec`` is five arguments."""
    try:
        return tuple(shlex.split(raw))
    except ValueError as exc:
        raise ConfigError(f"{flag}: {exc}") from exc


def ip_address(raw: str, flag: str) -> str:
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError as exc:
        raise ConfigError(f"not an IP address: {raw!r}") from exc


# ``--announced-ip auto``: the node asks its STUN server for its public address at start.
ANNOUNCE_AUTO = "auto"


def announced_ip(raw: str, flag: str) -> str:
    """An IP address, or ``auto``."""
    if raw.strip().lower() == ANNOUNCE_AUTO:
        return ANNOUNCE_AUTO
    return ip_address(raw, flag)


def ip_addresses(raw: str, flag: str) -> tuple[str, ...] | None:
    """Addresses; a list with none in it (``" , "``) leaves the default."""
    return tuple(ip_address(part, flag) for part in csv(raw)) or None


def networks(raw: str, flag: str) -> tuple[str, ...]:
    listed = []
    for part in csv(raw):
        try:
            listed.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError as exc:
            raise ConfigError(f"{flag}: not an address or network: {part!r}") from exc
    return tuple(listed)


def host_port(raw: str, flag: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9100`` for IPv6); the host is an IP address or a name."""
    value = raw.strip()
    host, sep, port_text = value.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    if bracketed:
        host = host[1:-1]
    wrong = not sep or not host or not port_text.isdigit() or not 1 <= int(port_text) <= 65535
    if wrong or (":" in host) != bracketed:  # an IPv6 address, and only one, is bracketed
        raise ConfigError(f"{flag} must be HOST:PORT (port 1-65535, [IPv6]:PORT), not {value!r}")
    if bracketed:
        try:
            ip_address(host, flag)
        except ConfigError as exc:
            raise ConfigError(f"{flag}: not an IPv6 address: {host!r}") from exc
    return host, int(port_text)
