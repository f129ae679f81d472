"""The media addresses a node offers when the operator names none: listen address × the
machine's interfaces → offered addresses (liveloop_sfu/config/addresses.py), and how
load_settings applies it."""

from __future__ import annotations

import pytest

from liveloop_sfu.config import load_settings
from liveloop_sfu.config.addresses import (
    listen_addresses,
    listens_publicly,
    loopback_only_problem,
    offered_addresses,
)
from liveloop_sfu.config.ice import stun_endpoint, stun_endpoints
from liveloop_sfu.errors import ConfigError

# A server: loopback, a public IPv4, a private IPv4 (a VPC), a link-local IPv4 (169.254: no
# route from elsewhere), global and unique-local IPv6, link-local IPv6.
SERVER = (
    "127.0.0.1",
    "203.0.113.10",
    "10.0.0.5",
    "169.254.1.1",
    "::1",
    "2001:db8::10",
    "fd00::5",
    "fe80::1",
)
# A container with only loopback.
LOOPBACK_ONLY = ("127.0.0.1", "::1")

CASES = [
    # listen, machine, dual-stack, offered
    (("0.0.0.0",), SERVER, False, ("203.0.113.10", "10.0.0.5")),
    (("::",), SERVER, False, ("2001:db8::10", "fd00::5")),
    (("::",), SERVER, True, ("203.0.113.10", "10.0.0.5", "2001:db8::10", "fd00::5")),
    (("0.0.0.0", "::"), SERVER, False, ("203.0.113.10", "10.0.0.5", "2001:db8::10", "fd00::5")),
    (("127.0.0.1",), SERVER, False, ("127.0.0.1",)),
    (("::1",), SERVER, False, ("::1",)),
    (("127.0.0.1", "::1"), SERVER, False, ("127.0.0.1", "::1")),  # "localhost"
    (("203.0.113.10",), SERVER, False, ("203.0.113.10",)),
    (("2001:db8::10",), SERVER, False, ("2001:db8::10",)),
    # Nothing reachable: loopback of the listen family (and a problem to report, below).
    (("0.0.0.0",), LOOPBACK_ONLY, False, ("127.0.0.1",)),
    (("::",), LOOPBACK_ONLY, False, ("::1",)),
    (("0.0.0.0",), (), False, ("127.0.0.1",)),
    # An address listed twice by the machine is offered once.
    (("0.0.0.0",), ("192.0.2.7", "192.0.2.7"), False, ("192.0.2.7",)),
]


@pytest.mark.parametrize(("listen", "machine", "dual_stack", "offered"), CASES)
def test_offered_addresses(
    listen: tuple[str, ...], machine: tuple[str, ...], dual_stack: bool, offered: tuple[str, ...]
) -> None:
    assert offered_addresses(listen, machine, dual_stack=dual_stack) == offered


@pytest.mark.parametrize(
    ("host", "listen"),
    [
        ("0.0.0.0", ("0.0.0.0",)),
        ("::", ("::",)),
        ("", ("0.0.0.0", "::")),
        ("127.0.0.1", ("127.0.0.1",)),
        ("0:0:0:0:0:0:0:1", ("::1",)),
        ("localhost", None),  # a name: resolved at the edge
    ],
)
def test_listen_addresses(host: str, listen: tuple[str, ...] | None) -> None:
    assert listen_addresses(host) == listen


@pytest.mark.parametrize(
    ("listen", "offered", "problem"),
    [
        (("0.0.0.0",), ("127.0.0.1",), True),
        (("::",), ("::1",), True),
        (("203.0.113.10",), ("127.0.0.1",), True),
        (("0.0.0.0",), ("203.0.113.10",), False),
        (("0.0.0.0",), ("127.0.0.1", "203.0.113.10"), False),
        (("127.0.0.1",), ("127.0.0.1",), False),  # a node for this machine only
        (("127.0.0.1", "::1"), ("127.0.0.1", "::1"), False),
    ],
)
def test_loopback_only_media_on_a_public_listener_is_a_problem(
    listen: tuple[str, ...], offered: tuple[str, ...], problem: bool
) -> None:
    found = loopback_only_problem(listen, offered)
    assert (found is not None) == problem
    assert listens_publicly(listen) or not problem
    if found is not None:
        # Words an operator can act on: what happens, and the flag that fixes it.
        assert "never connect" in found and "--media-addresses" in found


def test_load_settings_offers_the_machines_addresses_on_a_wildcard() -> None:
    asked = []

    def interfaces() -> tuple[str, ...]:
        asked.append(True)
        return SERVER

    settings = load_settings(["--host", "0.0.0.0"], {}, interfaces=interfaces)
    assert settings.media.host_addresses == ("203.0.113.10", "10.0.0.5")
    # An explicit list wins, and the machine is not even asked.
    asked.clear()
    listed = load_settings(
        ["--host", "0.0.0.0", "--media-addresses", "192.0.2.1"], {}, interfaces=interfaces
    )
    assert listed.media.host_addresses == ("192.0.2.1",)
    assert not asked
    # A loopback listener offers loopback without asking the machine either.
    assert load_settings([], {}, interfaces=interfaces).media.host_addresses == ("127.0.0.1",)
    assert not asked
    # The environment counts like the flag.
    env = {"LIVELOOP_HOST": "::"}
    assert load_settings([], env, interfaces=interfaces).media.host_addresses == (
        "2001:db8::10",
        "fd00::5",
    )


def test_load_settings_resolves_a_host_name() -> None:
    settings = load_settings(["--host", "localhost"], {}, interfaces=lambda: SERVER)
    assert set(settings.media.host_addresses) <= {"127.0.0.1", "::1"}
    assert "127.0.0.1" in settings.media.host_addresses


@pytest.mark.parametrize(
    ("url", "endpoint"),
    [
        ("stun:stun.example.org", ("stun.example.org", 3478)),
        ("stun:198.51.100.2:3479", ("198.51.100.2", 3479)),
        ("stun:[2001:db8::2]:3478", ("2001:db8::2", 3478)),
        ("turn:turn.example.org:3478?transport=udp", ("turn.example.org", 3478)),
        ("turn:turn.example.org:443?transport=tcp", None),
        ("turns:turn.example.org:443", None),
        ("stuns:stun.example.org", None),
        ("stun:", None),
        ("stun:host:notaport", None),
    ],
)
def test_stun_endpoint(url: str, endpoint: tuple[str, int] | None) -> None:
    assert stun_endpoint(url) == endpoint


def test_stun_endpoints_prefer_stun_urls() -> None:
    urls = ["turn:t.example:3478", "stun:s.example:3478", "turns:t.example:443"]
    assert stun_endpoints(urls) == (("s.example", 3478), ("t.example", 3478))


def test_announced_ip_auto_needs_a_stun_server() -> None:
    with pytest.raises(ConfigError, match="STUN server"):
        load_settings(["--announced-ip", "auto"], {})
    with pytest.raises(ConfigError, match="STUN server"):
        load_settings(["--announced-ip", "auto", "--ice-servers", "turns:t.example:443"], {})
    settings = load_settings(
        ["--announced-ip", "AUTO", "--ice-servers", "stun:198.51.100.2:3478"], {}
    )
    assert settings.media.announced_ip == "auto"
    with pytest.raises(ConfigError, match="not an IP address"):
        load_settings(["--announced-ip", "automatic"], {})
