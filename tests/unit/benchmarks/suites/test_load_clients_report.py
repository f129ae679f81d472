"""benchmarks.suites.load_clients: cheap ÷ aiortc only counts where both kinds delivered the same
packets per second without loss (a starved client uses less CPU for less work); with several
rounds, each round's pair gives a ratio and the figure is the median of the comparable ones."""

from __future__ import annotations

from typing import Any

from benchmarks.suites.load_clients import compare, schedule, table


def _row(client: str, pps: float, cpu: float, loss: float = 0.0, round_: int = 0) -> dict[str, Any]:
    return {
        "client": client,
        "clients": 16,
        "round": round_,
        "streams": 16,
        "packets_per_s": pps,
        "loss_pct": loss,
        "fps": 30.0,
        "clients_cpu_pct": cpu,
        "node_cpu_pct": 20.0,
        "load_average": 1.0,
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


def test_rounds_give_the_median_of_their_comparable_ratios() -> None:
    rows = [
        _row("aiortc", 2700, 70.0, round_=0), _row("cheap", 2700, 8.4, round_=0),  # 0.120
        _row("cheap", 2700, 7.0, round_=1), _row("aiortc", 2700, 70.0, round_=1),  # 0.100
        _row("aiortc", 2700, 70.0, round_=2), _row("cheap", 2700, 9.8, round_=2),  # 0.140
        # Starved aiortc clients (30 % loss): their ratio must not count.
        _row("aiortc", 1900, 35.0, loss=30.0, round_=3), _row("cheap", 2700, 7.0, round_=3),
    ]  # fmt: skip
    (c,) = compare(rows)
    assert [round(p["cheap_over_aiortc"]["cpu_pct_per_kpps"], 3) for p in c["rounds"]] == [
        0.12,
        0.1,
        0.14,
        0.141,
    ]
    assert [p["comparable"] for p in c["rounds"]] == [True, True, True, False]
    assert c["comparable"] and c["comparable_rounds"] == 3
    assert abs(c["cheap_over_aiortc"]["cpu_pct_per_kpps"] - 0.12) < 1e-9  # the median of three
    assert not c["meets_target"]
    # Rounds are paired by their number, not by their order in the list.
    (again,) = compare(list(reversed(rows)))
    assert again["cheap_over_aiortc"] == c["cheap_over_aiortc"]


def test_no_comparable_round_meets_no_target() -> None:
    rows = [
        _row("aiortc", 1900, 19.0, loss=34.9, round_=0), _row("cheap", 2656, 1.0, round_=0),
        _row("aiortc", 2000, 20.0, loss=20.0, round_=1), _row("cheap", 2656, 1.0, round_=1),
    ]  # fmt: skip
    (c,) = compare(rows)
    assert not c["comparable"] and c["comparable_rounds"] == 0 and not c["meets_target"]


def test_the_kinds_alternate_and_swap_every_other_round() -> None:
    assert schedule([16, 24], 2) == [
        (16, 0, "aiortc"), (16, 0, "cheap"), (16, 1, "cheap"), (16, 1, "aiortc"),
        (24, 0, "aiortc"), (24, 0, "cheap"), (24, 1, "cheap"), (24, 1, "aiortc"),
    ]  # fmt: skip
    assert schedule([16], 1) == [(16, 0, "aiortc"), (16, 0, "cheap")]


def test_the_table_names_each_run_s_round() -> None:
    lines = table([_row("aiortc", 2700, 70.0, round_=0), _row("cheap", 2700, 7.0, round_=1)])
    head, _, first, second = lines.splitlines()
    assert head.split()[:3] == ["client", "clients", "round"]
    assert first.split()[:3] == ["aiortc", "16", "1"] and second.split()[:3] == ["cheap", "16", "2"]
