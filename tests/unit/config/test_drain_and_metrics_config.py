"""``--drain-timeout`` and ``--metrics-listen`` (rolling deploys, private metrics)."""

from __future__ import annotations

import pytest

from liveloop_sfu.config import load_settings
from liveloop_sfu.errors import ConfigError


def test_defaults_drain_for_an_hour_and_serve_metrics_publicly() -> None:
    network = load_settings([], {}).network
    assert (network.drain_timeout, network.metrics_listen) == (3600.0, None)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("127.0.0.1:9100", ("127.0.0.1", 9100)),
        ("0.0.0.0:1", ("0.0.0.0", 1)),
        ("[::1]:9100", ("::1", 9100)),
        ("metrics.internal:65535", ("metrics.internal", 65535)),
    ],
)
def test_metrics_listen_takes_host_and_port(raw: str, expected: tuple[str, int]) -> None:
    assert load_settings(["--metrics-listen", raw], {}).network.metrics_listen == expected
    assert load_settings([], {"LIVELOOP_METRICS_LISTEN": raw}).network.metrics_listen == expected


@pytest.mark.parametrize("raw", ["9100", "127.0.0.1", "127.0.0.1:0", "host:70000", ":9100",
                                 "::1:9100", "[fe80::zz]:9100", "127.0.0.1:port"])  # fmt: skip
def test_bad_metrics_listen_is_refused_naming_the_flag(raw: str) -> None:
    with pytest.raises(ConfigError, match="--metrics-listen"):
        load_settings(["--metrics-listen", raw], {})


@pytest.mark.parametrize("raw", ["0", "-5", "soon", str(8 * 86400)])
def test_bad_drain_timeout_is_refused(raw: str) -> None:
    with pytest.raises(ConfigError, match="--drain-timeout"):
        load_settings(["--drain-timeout", raw], {})
