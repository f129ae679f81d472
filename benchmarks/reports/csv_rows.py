"""A bench result as CSV, one row per run, for spreadsheets and CI dashboards.

The JSON (``bench.json``) holds everything; the CSV beside it (``bench.csv``) holds each run's
summary flattened: nested percentiles become ``latency_ms_p50`` and so on. Columns are the union
over the runs, in first-seen order, so two runs of one version always have the same header.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Any


def flatten(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"latency_ms": {"p50": 1.0}}`` -> ``{"latency_ms_p50": 1.0}``; lists are joined."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}_"))
        elif isinstance(value, list | tuple):
            out[name] = " ".join(str(v) for v in value)
        else:
            out[name] = value
    return out


def to_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    """Rows (already flat or nested) as CSV text with a header; empty cells for None."""
    flat = [flatten(row) for row in rows]
    columns: list[str] = []
    for row in flat:
        columns.extend(key for key in row if key not in columns)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in flat:
        writer.writerow({key: "" if value is None else value for key, value in row.items()})
    return buffer.getvalue()


def bench_rows(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The summaries of a ``liveloop-sfu bench`` result (``bench.json``), one per run; each real
    Chromium page of a run (``--browsers``) in columns of its own: ``browser0_fps``, ..."""
    rows = []
    for run in result.get("runs", []):
        row = dict(run["summary"])
        for index, browser in enumerate(row.pop("browsers", None) or ()):
            row[f"browser{index}"] = browser
        rows.append(row)
    return rows
