"""benchmarks.suites.load_clients: cheap ÷ aiortc only counts where both kinds delivered the same
packets per second without loss (a starved client uses less CPU for less work)."""

from __future__ import annotations

from typing import Any

from benchmarks.suites.load_clients import compare


def _row(client: str, pps: float, cpu: float, loss: float = 0.0) -> dict[str, Any]:
    return {
        "client": client,
        "clients": 16,
        "packets_per_s": pps,
        "loss_pct": loss,
        "cpu_pct_per_stream": cpu / 16,
        "cpu_pct_per_kpps": 1000 * cpu / pps,
    }


def test_equal_packet_rates_are_compared() -> None:
    (c,) = compare([_row("aiortc", 2666, 55.8), _row("cheap", 2647, 5.4)])
    assert c["comparable"] and c["meets_target"]
    assert 0.09 < c["cheap_over_aiortc"]["cpu_pct_per_kpps"] < 0.1


def test_a_starved_kind_makes_the_ratio_meaningless() -> None:
    # The aiortc clients fell behind (35 % loss, 1936 of 2656 pkt/s): their low CPU is no
    # reference, so the target cannot be met on that run, whatever the ratio.
    (c,) = compare([_row("aiortc", 1936, 19.0, loss=34.9), _row("cheap", 2656, 1.0)])
    assert not c["comparable"] and not c["meets_target"]
    (gap,) = compare([_row("aiortc", 2400, 50.0), _row("cheap", 2656, 4.0)])
    assert not gap["comparable"]
