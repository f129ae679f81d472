"""ICE servers as the operator writes them (``--ice-servers``) and as browsers receive them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from liveloop_sfu.config.parse import csv
from liveloop_sfu.errors import ConfigError

ICE_URL_SCHEMES = ("stun:", "stuns:", "turn:", "turns:")


@dataclass(frozen=True, slots=True)
class IceServer:
    """One RTCIceServer as the browser (and aiortc) understand it."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"urls": list(self.urls)}
        if self.username is not None:
            out["username"] = self.username
        if self.credential is not None:
            out["credential"] = self.credential
        return out


def parse_ice_servers(text: str, flag: str = "--ice-servers") -> tuple[IceServer, ...]:
    """A JSON list of RTCIceServer objects, or comma-separated URLs; validated."""
    text = text.strip()
    if not text:
        return ()
    if text.startswith("["):
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{flag} is not valid JSON: {exc}") from exc
        if not isinstance(raw, list):
            raise ConfigError(f"{flag} JSON must be a list")
        return tuple(_ice_server(item) for item in raw)
    return tuple(_ice_server({"urls": url}) for url in csv(text))


def _ice_server(item: Any) -> IceServer:
    if not isinstance(item, dict):
        raise ConfigError("each ICE server must be an object with 'urls'")
    urls = item.get("urls")
    url_list = [urls] if isinstance(urls, str) else urls
    if not isinstance(url_list, list) or not url_list:
        raise ConfigError("an ICE server needs 'urls' (a string or a list of strings)")
    for url in url_list:
        if not isinstance(url, str) or not url.startswith(ICE_URL_SCHEMES):
            raise ConfigError(f"ICE server URL must start with stun:/turn:, got {url!r}")
    username, credential = item.get("username"), item.get("credential")
    for name, value in (("username", username), ("credential", credential)):
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"ICE server {name} must be a string")
    return IceServer(urls=tuple(url_list), username=username, credential=credential)


STUN_DEFAULT_PORT = 3478


def stun_endpoint(url: str) -> tuple[str, int] | None:
    """(host, port) a plain STUN Binding request can go to, from a ``stun:`` or ``turn:`` URL
    (RFC 7064 §3.1, RFC 7065 §3.1: ``scheme:host[:port][?transport=udp|tcp]``, port 3478 by
    default); None for TLS (``stuns:``/``turns:``) and TCP-only TURN URLs. A TURN server answers
    STUN Binding on its port without credentials (RFC 8656 §2, coturn does)."""
    scheme, _, rest = url.partition(":")
    rest, _, query = rest.partition("?")
    if scheme not in ("stun", "turn") or "transport=tcp" in query.lower():
        return None
    if rest.startswith("["):  # an IPv6 literal: [2001:db8::1]:3478
        host, _, tail = rest[1:].partition("]")
        port_text = tail.removeprefix(":")
    else:
        host, _, port_text = rest.partition(":")
    if not host:
        return None
    try:
        port = int(port_text) if port_text else STUN_DEFAULT_PORT
    except ValueError:
        return None
    return (host, port) if 0 < port < 65536 else None


def stun_endpoints(urls: Iterable[str]) -> tuple[tuple[str, int], ...]:
    """Every usable STUN endpoint of ``urls``, ``stun:`` ones first, in order."""
    ordered = sorted(urls, key=lambda url: not url.startswith("stun:"))
    found = (stun_endpoint(url) for url in ordered)
    return tuple(dict.fromkeys(endpoint for endpoint in found if endpoint is not None))


def stun_urls(servers: Iterable[IceServer], turn_urls: Iterable[str] = ()) -> list[str]:
    """Every URL of ``--ice-servers`` and ``--turn-urls``."""
    return [url for server in servers for url in server.urls] + list(turn_urls)


def has_turn(servers: Iterable[IceServer], turn_urls: Iterable[str] = ()) -> bool:
    """Whether browsers are given a TURN server (a relay), in ``--ice-servers`` or
    ``--turn-urls``."""
    return any(url.startswith(("turn:", "turns:")) for url in stun_urls(servers, turn_urls))
