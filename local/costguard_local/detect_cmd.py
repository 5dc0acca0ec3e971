"""`costguard detect`: replay the detector over a CSV of daily costs and print the alerts it would have sent.

Two input formats, told apart by the header:
  date,series,cost                                              one series per distinct `series`
  date,usage_account_id,product_code,unblended_cost             the workshop billing export
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from costguard.detect.core import DetectorParams
from costguard.detect.model import Event
from costguard.detect.replay import replay

SIMPLE_HEADER = ("date", "series", "cost")
BILLING_HEADER = ("date", "usage_account_id", "product_code", "unblended_cost")


class InputError(ValueError):
    """The CSV cannot be read; the message names the file and line."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = DetectorParams()
    parser.add_argument("--input", required=True, type=Path, help="CSV: date,series,cost or the billing export")
    parser.add_argument("--format", choices=("json", "table"), default="json", help="output (default: json lines)")
    parser.add_argument(
        "--min-impact-usd",
        type=_non_negative,
        default=defaults.min_impact_usd,
        help=f"alert only above this many USD/day (default {defaults.min_impact_usd:g})",
    )
    parser.add_argument(
        "--min-impact-pct",
        type=_non_negative,
        default=defaults.min_impact_pct,
        help=f"... and above this percentage of expected spend (default {defaults.min_impact_pct:g})",
    )
    parser.add_argument(
        "--series-by",
        choices=("service", "account-service"),
        default="service",
        help="billing export only: one series per service (default) or per account and service",
    )


def run(args: argparse.Namespace) -> int:
    try:
        rows = list(read_rows(args.input, series_by=args.series_by))
    except (OSError, InputError) as exc:
        print(f"costguard detect: {exc}", file=sys.stderr)
        return 2
    params = DetectorParams(min_impact_usd=args.min_impact_usd, min_impact_pct=args.min_impact_pct)
    alerts = [e for e in replay(rows, params) if e.action == "open"]
    text = format_table(alerts) if args.format == "table" else format_json(alerts)
    if text:
        print(text)
    return 0


def read_rows(path: Path, *, series_by: str = "service") -> Iterator[tuple[date, str, float]]:
    """(day, series, cost) rows; billing rows are summed per series and day."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:  # -sig: spreadsheets often add a BOM
            reader = csv.reader(f)
            try:
                yield from _parse(path, reader, series_by)
            except csv.Error as exc:
                raise InputError(f"{path}:{reader.line_num}: {exc}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None


def _parse(path: Path, reader: Any, series_by: str) -> Iterator[tuple[date, str, float]]:
    """Rows of a csv.reader (typed Any: its class is private), validated with the line they came from."""
    header = tuple(h.strip().lower() for h in next(reader, []))
    if header == SIMPLE_HEADER:
        for row in reader:
            if row:
                line = reader.line_num
                day, series, cost = _fields(path, line, row, 3)
                yield _day(path, line, day), _series(path, line, series), _cost(path, line, cost)
    elif header == BILLING_HEADER:
        totals: dict[tuple[date, str], float] = defaultdict(float)
        for row in reader:
            if row:
                line = reader.line_num
                day, account, product, cost = _fields(path, line, row, 4)
                service = _series(path, line, product)
                name = f"{account.strip()}/{service}" if series_by == "account-service" else service
                totals[_day(path, line, day), name] += _cost(path, line, cost)
        for (day_, name), total in sorted(totals.items()):
            yield day_, name, total
    else:
        raise InputError(
            f"{path}:1: unknown header {','.join(header) or '(empty file)'}; expected "
            f"{','.join(SIMPLE_HEADER)} or {','.join(BILLING_HEADER)}"
        )


def _fields(path: Path, line: int, row: list[str], n: int) -> list[str]:
    if len(row) != n:
        raise InputError(f"{path}:{line}: expected {n} fields, got {len(row)}")
    return row


def _day(path: Path, line: int, text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"{path}:{line}: bad date {text!r} (want YYYY-MM-DD)") from None


def _series(path: Path, line: int, text: str) -> str:
    if not text.strip():
        raise InputError(f"{path}:{line}: empty series name")
    return text.strip()


def _cost(path: Path, line: int, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{path}:{line}: bad cost {text!r}") from None
    if not math.isfinite(value):
        raise InputError(f"{path}:{line}: bad cost {text!r}")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text!r}")
    return value


def _record(e: Event) -> dict[str, object]:
    return {
        "series": e.series,
        "date": e.day.isoformat(),
        "kind": e.kind,
        "expected": round(e.expected, 2),
        "actual": round(e.actual, 2),
        "impact": round(e.impact, 2),
    }


def format_json(alerts: list[Event]) -> str:
    return "\n".join(json.dumps(_record(e)) for e in alerts)


def format_table(alerts: list[Event]) -> str:
    head = ("date", "series", "kind", "expected", "actual", "impact")
    rows = [
        (e.day.isoformat(), e.series, e.kind, f"{e.expected:,.2f}", f"{e.actual:,.2f}", f"{e.impact:+,.2f}")
        for e in alerts
    ]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    numeric = {3, 4, 5}
    lines = [
        "  ".join(c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        for r in [head, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(f"{len(alerts)} alert(s)")
    return "\n".join(line.rstrip() for line in lines)
