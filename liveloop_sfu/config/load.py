"""The command line, the environment lookup and the validation, generated from the declared
settings (tree.py), plus the few rules that tie two settings together."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from liveloop_sfu.config import machine
from liveloop_sfu.config.addresses import listen_addresses, offered_addresses
from liveloop_sfu.config.declare import Declared, declared, subtrees
from liveloop_sfu.config.ice import has_turn, stun_endpoints, stun_urls
from liveloop_sfu.config.parse import ANNOUNCE_AUTO
from liveloop_sfu.config.tree import Settings
from liveloop_sfu.errors import ConfigError

DESCRIPTION = (
    "Live Loop SFU: random and group video calls through a forwarding node. "
    "Every flag can also be set by the environment variable shown in brackets."
)


def build_parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    """The ``liveloop-sfu`` command line. Environment values become the flags' defaults, so a
    flag given on the command line wins; an unset one stays None (the field's default)."""
    parser = argparse.ArgumentParser(prog="liveloop-sfu", description=DESCRIPTION)
    for item in declared(Settings):
        spec = item.spec
        kwargs: dict[str, Any] = {"default": env.get(spec.env)}
        if spec.switch:
            kwargs.update(action="store_const", const="true")
        help_text = f"{item.help_text()} [{spec.env}]"
        parser.add_argument(spec.flag, dest=spec.dest, help=help_text, **kwargs)
    return parser


# The machine's interface addresses, read only when --host is a wildcard (machine.py).
Interfaces = Callable[[], Sequence[str]]


def load_settings(
    argv: Sequence[str],
    env: Mapping[str, str],
    interfaces: Interfaces = machine.interface_addresses,
) -> Settings:
    """Parse and validate flags + environment into :class:`Settings` (raises ConfigError).
    ``interfaces`` tells the machine's addresses, from which the media addresses are chosen
    when ``--media-addresses`` is not given."""
    values = vars(build_parser(env).parse_args(list(argv)))
    return settings_from_values(values, interfaces)


def settings_from_values(
    values: Mapping[str, Any], interfaces: Interfaces = machine.interface_addresses
) -> Settings:
    """The tree from raw texts by flag name (``{"rtc_min_port": "40000"}``): each parsed by its
    declaration (absent or empty = the default), then the rules between settings."""
    parsed: dict[str, dict[str, Any]] = {group: {} for group, _ in subtrees(Settings)}
    for item in declared(Settings):
        parsed[item.group][item.name] = _value(item, values.get(item.spec.dest))
    for rule in RULES:
        rule(parsed)
    _choose_media_addresses(parsed, interfaces)
    # Browsers are handed the servers the node uses itself (one flag, --ice-servers).
    parsed["rooms"]["ice_servers"] = parsed["media"]["ice_servers"]
    parsed["rooms"]["turn_configured"] = has_turn(
        parsed["media"]["ice_servers"], parsed["turn"]["urls"]
    )
    groups = {group: cls(**parsed[group]) for group, cls in subtrees(Settings)}
    return Settings(**groups)


def _value(item: Declared, raw: Any) -> Any:
    if raw is None or raw == "":
        return item.default
    value = item.spec.parse(str(raw), item.spec.flag)
    return item.default if value is None else value


# A rule sees every parsed value, by subtree and field, before any subtree is built.
Parsed = dict[str, dict[str, Any]]


def _choose_media_addresses(parsed: Parsed, interfaces: Interfaces) -> None:
    """No --media-addresses: offer the addresses the node listens on (config/addresses.py).
    asyncio and uvloop listen on ``::`` with IPV6_V6ONLY set, so a ``::`` node is IPv6 only."""
    if parsed["media"]["host_addresses"]:
        return
    host = parsed["network"]["host"]
    listen = listen_addresses(host) or machine.resolve_host(host)
    if not listen:
        raise ConfigError(f"--host {host!r} is neither an address nor a name this machine resolves")
    needs_machine = any(address in ("0.0.0.0", "::") for address in listen)
    found = interfaces() if needs_machine else ()
    parsed["media"]["host_addresses"] = offered_addresses(listen, found, dual_stack=False)


def _announce_auto_needs_stun(parsed: Parsed) -> None:
    if parsed["media"]["announced_ip"] != ANNOUNCE_AUTO:
        return
    if not stun_endpoints(stun_urls(parsed["media"]["ice_servers"], parsed["turn"]["urls"])):
        raise ConfigError(
            "--announced-ip auto asks a STUN server for the node's public address: put a "
            "stun: (or UDP turn:) URL in --ice-servers or --turn-urls, or give the address itself"
        )


def _tls_pair(parsed: Parsed) -> None:
    network = parsed["network"]
    if (network["tls_cert"] is None) != (network["tls_key"] is None):
        raise ConfigError("--tls-cert and --tls-key go together")


def _port_range(parsed: Parsed) -> None:
    low, high = parsed["media"]["port_min"], parsed["media"]["port_max"]
    if (low is None) != (high is None) or (low is not None and low > high):
        raise ConfigError("--rtc-min-port and --rtc-max-port go together, min <= max")
    if low is not None and parsed["media"]["udp_port"] is not None:
        raise ConfigError(
            "--rtc-udp-port replaces --rtc-min-port/--rtc-max-port: give one or the other"
        )


def _recording_needs_sfu(parsed: Parsed) -> None:
    if parsed["recording"]["record"] != "none" and parsed["rooms"]["mode"] == "p2p":
        # DESIGN: a recorded room is always sfu; in p2p the media never passes the node.
        raise ConfigError("--record all needs the media to pass the node: not with --mode p2p")


def _webhook_needs_secret(parsed: Parsed) -> None:
    recording = parsed["recording"]
    if recording["webhook_url"] is not None and recording["webhook_secret"] is None:
        raise ConfigError("--recording-webhook-url needs --recording-webhook-secret")


def _turn_needs_secret(parsed: Parsed) -> None:
    if parsed["turn"]["urls"] and parsed["turn"]["secret"] is None:
        raise ConfigError("--turn-urls needs --turn-secret")


def _room_token_needs_secret(parsed: Parsed) -> None:
    rooms = parsed["rooms"]
    if rooms["require_room_token"] and rooms["room_token_secret"] is None:
        raise ConfigError("--require-room-token needs --room-token-secret")


RULES: tuple[Callable[[Parsed], None], ...] = (
    _tls_pair,
    _port_range,
    _recording_needs_sfu,
    _turn_needs_secret,
    _announce_auto_needs_stun,
    _room_token_needs_secret,
    _webhook_needs_secret,
)


def log_level_number(settings: Settings) -> int:
    return int(getattr(logging, settings.logging.level.upper()))
