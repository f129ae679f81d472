"""``liveloop-sfu bench compare a.json b.json``: what changed between two bench runs.

    liveloop-sfu bench compare before/bench.json after/bench.json
    liveloop-sfu bench compare base.json new.json --fail-if us_per_packet>10
    liveloop-sfu bench compare base.json new.json --fail-if knee_streams>5 --fail-if latency_p95>25

Runs are matched by target, scenario and client count; capacity knees by target. For each
figure both values are printed with the change in percent of the first and whether that is
better or worse: each figure knows its good direction (µs per packet and latency down, the knee
and fps up). ``--fail-if FIGURE>PERCENT`` exits 1 when FIGURE got worse by more than PERCENT in
any matched run, for a CI pipeline; a figure missing on either side is never a regression, and
no matched run at all exits 2, as does an unreadable file or an unknown figure.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Getter = Callable[[Mapping[str, Any]], Any]

# figure -> (where in a run summary / a knee, True if lower is better)
RUN_FIGURES: dict[str, tuple[Getter, bool]] = {
    "us_per_packet": (lambda s: s.get("us_per_packet"), True),
    "node_cpu_pct": (lambda s: s.get("node_cpu_pct"), True),
    "clients_cpu_pct": (lambda s: s.get("clients_cpu_pct"), True),
    "latency_p50": (lambda s: (s.get("latency_ms") or {}).get("p50"), True),
    "latency_p95": (lambda s: (s.get("latency_ms") or {}).get("p95"), True),
    "latency_p99": (lambda s: (s.get("latency_ms") or {}).get("p99"), True),
    "loss_pct": (lambda s: s.get("loss_pct"), True),
    "fps_p50": (lambda s: (s.get("fps") or {}).get("p50"), False),
    "setup_p95": (lambda s: (s.get("setup_ms") or {}).get("p95"), True),
}
KNEE_FIGURES: dict[str, tuple[Getter, bool]] = {
    "knee_streams": (lambda k: k.get("healthy_streams"), False),
    "knee_streams_per_core": (lambda k: k.get("streams_per_core"), False),
    "knee_us_per_packet": (lambda k: (k.get("us_per_packet") or {}).get("slope"), True),
}
FIGURES = {**RUN_FIGURES, **KNEE_FIGURES}
_THRESHOLD = re.compile(r"^\s*([a-z0-9_]+)\s*>\s*([0-9]+(?:\.[0-9]+)?)\s*%?\s*$")


class CompareError(ValueError):
    """Unusable input: a file, a threshold, or nothing to compare."""


@dataclass(frozen=True, slots=True)
class Difference:
    figure: str
    where: str  # "sfu steady 32" or "sfu knee"
    before: float | None
    after: float | None
    worse_pct: float | None  # how much worse in percent of ``before`` (negative: better)


def parse_threshold(text: str) -> tuple[str, float]:
    """``"us_per_packet>10"`` or ``"latency_p95 > 25%"`` -> (figure, percent)."""
    match = _THRESHOLD.match(text)
    if match is None:
        raise CompareError(f"--fail-if wants FIGURE>PERCENT, e.g. us_per_packet>10: {text!r}")
    figure, percent = match.group(1), float(match.group(2))
    if figure not in FIGURES:
        raise CompareError(f"unknown figure {figure!r}; known: {', '.join(sorted(FIGURES))}")
    return figure, percent


def worse_pct(before: float | None, after: float | None, lower_is_better: bool) -> float | None:
    """The change from ``before`` to ``after`` in percent of ``before``, positive when worse."""
    if before is None or after is None or before == 0:
        return None
    change = 100.0 * (after - before) / abs(before)
    return change if lower_is_better else -change


def _runs(result: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    out: dict[str, Mapping[str, Any]] = {}
    for run in result.get("runs", []):
        summary = run["summary"]
        out[f"{summary['target']} {summary['scenario']} {summary['clients']}"] = summary
    return out


def _knees(result: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {f"{k['target']} knee": k for k in result.get("knees", [])}


def differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[Difference]:
    """Every figure of every run and knee present in both results."""
    out: list[Difference] = []
    for pick, figures in ((_runs, RUN_FIGURES), (_knees, KNEE_FIGURES)):
        before_all, after_all = pick(a), pick(b)
        for where in before_all.keys() & after_all.keys():
            for figure, (get, lower_is_better) in figures.items():
                x, y = _number(get(before_all[where])), _number(get(after_all[where]))
                if x is None and y is None:
                    continue
                out.append(Difference(figure, where, x, y, worse_pct(x, y, lower_is_better)))
    return sorted(out, key=lambda d: (d.where, d.figure))


def regressions(diffs: Sequence[Difference], thresholds: Sequence[tuple[str, float]]) -> list[str]:
    """One line per figure that got worse by more than its threshold."""
    lines = []
    for figure, limit in thresholds:
        for d in diffs:
            if d.figure == figure and d.worse_pct is not None and d.worse_pct > limit:
                lines.append(
                    f"regression: {figure} ({d.where}) {_value(d.before)} -> {_value(d.after)}, "
                    f"{d.worse_pct:.1f} % worse (limit {limit:g} %)"
                )
    return lines


def table(diffs: Sequence[Difference]) -> str:
    head = f"{'where':<24} {'figure':<22} {'before':>10} {'after':>10} {'change':>9}"
    lines = [head, "-" * len(head)]
    for d in diffs:
        if d.worse_pct is None:
            change = "-"
        elif abs(d.worse_pct) < 0.05:
            change = "same"
        else:
            change = f"{abs(d.worse_pct):.1f}% " + ("worse" if d.worse_pct > 0 else "better")
        lines.append(
            f"{d.where:<24} {d.figure:<22} {_value(d.before):>10} {_value(d.after):>10} {change:>9}"
        )
    return "\n".join(lines)


def load(path: Path) -> dict[str, Any]:
    try:
        result = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CompareError(f"cannot read {path}: {exc}") from exc
    if not isinstance(result, dict) or "runs" not in result:
        raise CompareError(f"{path} is not a liveloop-sfu bench result (no runs)")
    return result


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _value(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="liveloop-sfu bench compare", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("before", type=Path, help="the reference run's bench.json")
    parser.add_argument("after", type=Path, help="the run to judge")
    parser.add_argument(
        "--fail-if",
        action="append",
        default=[],
        metavar="FIGURE>PERCENT",
        help=f"exit 1 when FIGURE got worse by more than PERCENT; figures: {', '.join(FIGURES)}",
    )
    args = parser.parse_args(argv)
    try:
        thresholds = [parse_threshold(text) for text in args.fail_if]
        diffs = differences(load(args.before), load(args.after))
        if not diffs:
            raise CompareError("no run (target, scenario, clients) is in both results")
    except CompareError as exc:
        print(f"liveloop-sfu bench compare: {exc}", file=sys.stderr)
        return 2
    print(table(diffs))
    failed = regressions(diffs, thresholds)
    for line in failed:
        print(line)
    return 1 if failed else 0
