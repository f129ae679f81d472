"""The command line, the environment lookup and the validation, generated from the declared
settings (tree.py), plus the few rules that tie two settings together."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from liveloop_sfu.config.declare import Declared, declared, subtrees
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


def load_settings(argv: Sequence[str], env: Mapping[str, str]) -> Settings:
    """Parse and validate flags + environment into :class:`Settings` (raises ConfigError)."""
    values = vars(build_parser(env).parse_args(list(argv)))
    return settings_from_values(values)


def settings_from_values(values: Mapping[str, Any]) -> Settings:
    """The tree from raw texts by flag name (``{"rtc_min_port": "40000"}``): each parsed by its
    declaration (absent or empty = the default), then the rules between settings."""
    parsed: dict[str, dict[str, Any]] = {group: {} for group, _ in subtrees(Settings)}
    for item in declared(Settings):
        parsed[item.group][item.name] = _value(item, values.get(item.spec.dest))
    for rule in RULES:
        rule(parsed)
    # Browsers are handed the servers the node uses itself (one flag, --ice-servers).
    parsed["rooms"]["ice_servers"] = parsed["media"]["ice_servers"]
    groups = {group: cls(**parsed[group]) for group, cls in subtrees(Settings)}
    return Settings(**groups)


def _value(item: Declared, raw: Any) -> Any:
    if raw is None or raw == "":
        return item.default
    value = item.spec.parse(str(raw), item.spec.flag)
    return item.default if value is None else value


# A rule sees every parsed value, by subtree and field, before any subtree is built.
Parsed = dict[str, dict[str, Any]]


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
    _room_token_needs_secret,
    _webhook_needs_secret,
)


def log_level_number(settings: Settings) -> int:
    return int(getattr(logging, settings.logging.level.upper()))
