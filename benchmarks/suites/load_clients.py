"""What a load client costs: CPU per stream, the aiortc clients vs the cheap ones, in one run.

    python -m benchmarks.suites.load_clients --clients 16,32 --duration 20

For each client count, ``liveloop-sfu bench --targets sfu --scenario steady`` runs once with
``--client aiortc`` and once with ``--client cheap`` (alternating, so the noise of a shared
machine hits both kinds alike), each with a fresh node; ``--repeat N`` makes N such rounds, the
order of the two kinds swapped every other round. It prints, per run, the client
processes' CPU (% of one core, over the steady window), streams, the packets per second the
receivers were sent (both kinds send the same cached media: same packets and bitrate), then CPU
per stream and per 1000 packets/s, and the ratio
cheap ÷ aiortc at each count (target ≤ 0.10): each round's pair gives one ratio, and the figure
is the median of the comparable rounds' (a shared machine's load moved one pair's ratio by up
to 15 % between rounds, docs/benchmarks.md; the median of several much less); the 1-minute
load average is printed beside each run.
JSON goes to ``--out``/load_clients.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from benchmarks.harness.bench import BenchConfig, parse_args, run_once
from benchmarks.media.cache import load_or_build
from benchmarks.reports.csv_rows import to_csv
from benchmarks.suites.forwarding import machine

KINDS = ("aiortc", "cheap")
TARGET_RATIO = 0.10
# Equal packets per second means both kinds delivered what was sent: a kind whose clients
# starved (loss, fewer packets) used less CPU for less work, and its ratio says nothing.
MAX_LOSS_PCT = 1.0
MAX_PPS_GAP = 0.05


def per_stream(run: dict[str, Any]) -> dict[str, Any]:
    """One run's client cost: % of a core per stream and per 1000 packets/s received."""
    summary = run["summary"]
    cpu = summary.clients_cpu_pct
    streams = summary.streams
    pps = summary.packets_per_s
    return {
        "client": run["client"],
        "clients": summary.clients,
        "streams": streams,
        "clients_cpu_pct": cpu,
        "node_cpu_pct": summary.node_cpu_pct,
        "packets_per_s": pps,
        "loss_pct": summary.loss_pct,
        "fps": summary.fps.get("p50"),
        "latency_ms_p50": summary.latency_ms.get("p50"),
        "errors": summary.errors,
        "cpu_pct_per_stream": cpu / streams if cpu is not None and streams else None,
        "cpu_pct_per_kpps": 1000 * cpu / pps if cpu is not None and pps else None,
        "load_average": run["load_average_at_end"][0],
    }


def schedule(counts: Sequence[int], repeat: int) -> list[tuple[int, int, str]]:
    """The runs, in order: (clients, round, kind). Each round runs both kinds back to back,
    swapped every other round, so that neither always runs on the machine the other warmed."""
    return [
        (clients, round_, kind)
        for clients in counts
        for round_ in range(repeat)
        for kind in (KINDS if round_ % 2 == 0 else KINDS[::-1])
    ]


def compare(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """cheap ÷ aiortc per client count (CPU per stream and per 1000 packets/s): one ratio per
    round (the two kinds' runs of that round, side by side in time), and their median over the
    comparable rounds."""
    out = []
    for clients in sorted({r["clients"] for r in rows}):
        pairs = []
        for round_ in sorted({r.get("round", 0) for r in rows if r["clients"] == clients}):
            same = [r for r in rows if r["clients"] == clients and r.get("round", 0) == round_]
            by_kind = {r["client"]: r for r in same}
            old, new = by_kind.get("aiortc"), by_kind.get("cheap")
            if old is None or new is None:
                continue
            ratio = {}
            for key in ("cpu_pct_per_stream", "cpu_pct_per_kpps"):
                a, b = old[key], new[key]
                ratio[key] = b / a if a and b is not None else None
            pps = {"aiortc": old["packets_per_s"], "cheap": new["packets_per_s"]}
            pairs.append(
                {
                    "round": round_,
                    "packets_per_s": pps,
                    "cheap_over_aiortc": ratio,
                    "comparable": comparable_runs(old, new),
                }
            )
        if not pairs:
            continue
        usable = [p for p in pairs if p["comparable"]]
        median = {
            key: _median([p["cheap_over_aiortc"][key] for p in usable])
            for key in ("cpu_pct_per_stream", "cpu_pct_per_kpps")
        }
        per_kpps = median["cpu_pct_per_kpps"]
        out.append(
            {
                "clients": clients,
                "packets_per_s": pairs[0]["packets_per_s"],
                "cheap_over_aiortc": median if usable else pairs[0]["cheap_over_aiortc"],
                "comparable": bool(usable),
                "rounds": pairs,
                "comparable_rounds": len(usable),
                "meets_target": per_kpps is not None and per_kpps <= TARGET_RATIO,
            }
        )
    return out


def _median(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def comparable_runs(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Both kinds healthy (loss ≤ 1 %) at the same packets per second (within 5 %)."""
    a, b = old["packets_per_s"], new["packets_per_s"]
    if not a or not b or max(old["loss_pct"], new["loss_pct"]) > MAX_LOSS_PCT:
        return False
    return bool(abs(a - b) <= MAX_PPS_GAP * max(a, b))


def table(rows: Sequence[dict[str, Any]]) -> str:
    head = (
        f"{'client':<7} {'clients':>7} {'round':>5} {'streams':>7} {'pkt/s':>7} {'loss%':>6} "
        f"{'fps':>5} "
        f"{'clients %CPU':>12} {'%/stream':>9} {'%/kpps':>7} {'node %CPU':>9} {'load':>5}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['client']:<7} {r['clients']:>7} {r.get('round', 0) + 1:>5} {r['streams']:>7} "
            f"{r['packets_per_s']:>7.0f} "
            f"{r['loss_pct']:>6.2f} {_f(r['fps'], 5, 1)} {_f(r['clients_cpu_pct'], 12, 1)} "
            f"{_f(r['cpu_pct_per_stream'], 9, 3)} {_f(r['cpu_pct_per_kpps'], 7, 3)} "
            f"{_f(r['node_cpu_pct'], 9, 1)} {r['load_average']:>5.2f}"
        )
    return "\n".join(lines)


def _f(value: float | None, width: int, digits: int) -> str:
    return f"{value:>{width}.{digits}f}" if value is not None else f"{'-':>{width}}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="16,32", help="client counts (2 per 1:1 call)")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds per count (the ratio is their median)"
    )
    parser.add_argument("--out", type=Path, default=Path("bench-out/load-clients"))
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    counts = [int(v) for v in args.clients.split(",") if v.strip()]
    base: BenchConfig = parse_args(
        ["--targets", "sfu", "--scenario", "steady", "--duration", str(args.duration),
         "--processes", str(args.processes), "--out", str(args.out), "--no-charts"]
    )  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    cache = load_or_build(base.spec, base.cache_dir)  # one media file for both kinds
    rows = []
    runs = []
    for clients, round_, kind in schedule(counts, args.repeat):
        config = replace(base, client=kind)
        scenario = replace(base.scenario, clients=clients)
        print(f"{kind} clients, {clients} users, round {round_ + 1} ...", file=sys.stderr)
        run = run_once(config, scenario, "sfu")
        rows.append({**per_stream(run), "round": round_})
        runs.append({**run, "summary": run["summary"].to_json(), "client": kind, "round": round_})
    comparison = compare(rows)
    print(table(rows))
    for c in comparison:
        ratio = c["cheap_over_aiortc"]
        rounds = len(c["rounds"])
        each = ", ".join(
            _ratio(p["cheap_over_aiortc"]["cpu_pct_per_kpps"]) + ("" if p["comparable"] else "*")
            for p in c["rounds"]
        )
        print(
            f"{c['clients']} clients: cheap ÷ aiortc = {_ratio(ratio['cpu_pct_per_stream'])} per "
            f"stream, {_ratio(ratio['cpu_pct_per_kpps'])} per packet/s (target ≤ {TARGET_RATIO})"
            + (
                f"; median of {c['comparable_rounds']} comparable rounds of {rounds}: {each}"
                if rounds > 1
                else ""
            )
            + ("" if c["comparable"] else "; NOT comparable: a kind lost packets or fell behind")
        )
    if any(len(c["rounds"]) > 1 and c["comparable_rounds"] < len(c["rounds"]) for c in comparison):
        print("* not comparable (a kind lost packets or fell behind): left out of the median")
    print(f"load average (1, 5, 15 min) at the end: {os.getloadavg()}")
    path = args.out / "load_clients.json"
    result = {
        "benchmark": "load clients",
        "machine": machine(),
        "media": {**asdict(base.spec), "measured_video_kbps": cache.video_kbps},
        "rows": rows,
        "comparison": comparison,
        "runs": runs,
    }
    path.write_text(json.dumps(result, indent=1, default=str) + "\n")
    path.with_suffix(".csv").write_text(to_csv(rows))
    print(f"JSON written to {path}, CSV beside it")
    return 0


def _ratio(value: float | None) -> str:
    return f"{value:.3f}" if value is not None else "-"


if __name__ == "__main__":
    sys.exit(main())
