"""`costguard scan`: the idle sweep from a terminal, against whatever AWS credentials and endpoint are
configured (a real account, or AWS_ENDPOINT_URL for moto). Dry run unless --apply-tags.

Prints one JSON line per finding (or a table); the summary and skipped regions go to stderr, with a
progress bar when stderr is a terminal.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from datetime import UTC, datetime
from typing import Any, TextIO

from costguard.idle.model import Finding


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--region", action="append", default=[], metavar="R", help="scan this region (repeat; default: all enabled)"
    )
    parser.add_argument("--format", choices=("json", "table"), default="json", help="output (default: json lines)")
    parser.add_argument(
        "--apply-tags", action="store_true", help="tag findings costguard:* and untag resolved ones (default: dry run)"
    )
    parser.add_argument("--rule", action="append", default=[], metavar="NAME", help="only this rule (repeat)")
    parser.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="RULE.KEY=VALUE",
        help="override a rule threshold, e.g. ebs-unattached.unattached_days=14 (repeat)",
    )
    parser.add_argument(
        "--exclude-account", action="append", default=[], metavar="ID", help="never report this account"
    )
    parser.add_argument("--list-rules", action="store_true", help="print the rules, thresholds and permissions")
    parser.add_argument("--now", type=_utc, default=None, help=argparse.SUPPRESS)  # tests and replays: ISO time


def _utc(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _thresholds(items: list[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        rule, dot, name = key.rpartition(".")
        if not sep or not dot or not rule or not name:
            raise ValueError(f"--threshold wants RULE.KEY=VALUE (got {item!r})")
        out.setdefault(rule, {})[name] = value
    return out


def run(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError
    from costguard.idle.inventory import ClientFactory
    from costguard.idle.rules import RuleConfigError, build_rules
    from costguard.idle.scan import account_id, enabled_regions
    from costguard.idle.service import sweep

    try:
        rules = build_rules(args.rule or None, _thresholds(args.threshold))
    except (ValueError, RuleConfigError) as exc:
        print(f"costguard scan: {exc}", file=sys.stderr)
        return 2
    if args.list_rules:
        print(list_rules(rules))
        return 0
    now = args.now or datetime.now(UTC)
    home = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    clients = ClientFactory()
    progress = Progress(sys.stderr) if sys.stderr.isatty() else None
    try:
        account = account_id(clients, home)
        regions = args.region or enabled_regions(clients, home)
        if progress:
            progress.total = len(regions)
        _, decision, report = sweep(
            now,
            clients=clients,
            rules=rules,
            regions=regions,
            account=account,
            store=None,
            excluded_accounts=args.exclude_account,
            apply_tags=args.apply_tags,
            progress=progress,
        )
    except (ClientError, BotoCoreError) as exc:
        if progress:
            progress.finish()
        print(f"costguard scan: {exc}", file=sys.stderr)
        return 1
    if progress:
        progress.finish()
    text = format_table(decision.findings) if args.format == "table" else format_json(decision.findings)
    if text:
        print(text)
    for region, why in sorted(report.skipped.items()):
        print(f"costguard scan: skipped {region}: {why}", file=sys.stderr)
    what = "tagged" if args.apply_tags else "dry run, nothing tagged"
    print(
        f"costguard scan: {len(report.regions)} region(s), {report.resources} resources, "
        f"{report.findings} finding(s): ${report.monthly_idle:,.2f}/month idle, "
        f"${report.monthly_saving:,.2f}/month saving"
        + (f", {report.unknown_cost} of unknown price" if report.unknown_cost else "")
        + f" ({what}; {report.tag_changes} tag change(s))",
        file=sys.stderr,
    )
    return 0


class Progress:
    """A one-line progress bar of regions done, redrawn on stderr (a terminal)."""

    def __init__(self, out: TextIO, total: int = 0, width: int = 30) -> None:
        self.out, self.total, self.width = out, total, width
        self.done = 0
        self.running: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, region: str, event: str) -> None:
        with self._lock:
            if event == "start":
                self.running.append(region)
            else:
                self.done += 1
                if region in self.running:
                    self.running.remove(region)
            filled = self.width * self.done // max(self.total, 1)
            bar = "#" * filled + "-" * (self.width - filled)
            label = ", ".join(self.running[:3]) + ("…" if len(self.running) > 3 else "")
            self.out.write(f"\r\033[K[{bar}] {self.done}/{self.total} regions {label}")
            self.out.flush()

    def finish(self) -> None:
        self.out.write("\r\033[K")
        self.out.flush()


def format_json(findings: list[Finding]) -> str:
    return "\n".join(json.dumps(f.as_record()) for f in findings)


def _cost(f: Finding) -> str:
    if f.monthly_cost is None:
        return "unknown"
    return f"{f.monthly_cost:,.2f}" + (" saved" if f.kind == "saving" else "")


def format_table(findings: list[Finding]) -> str:
    head = ("rule", "region", "resource", "$/month", "reason")
    rows = [(f.rule, f.resource.region, f.resource.name or f.resource.id, _cost(f), f.reason) for f in findings]
    rows = [(a, b, c if len(c) <= 48 else c[:47] + "…", d, e) for a, b, c, d, e in rows]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = [
        "  ".join(c.rjust(w) if i == 3 else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        for r in [head, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    known = sum(f.monthly_cost or 0.0 for f in findings if f.kind == "idle")
    lines.append(f"{len(findings)} finding(s), ${known:,.2f}/month idle (known prices)")
    return "\n".join(line.rstrip() for line in lines)


def list_rules(rules: list[Any]) -> str:
    import dataclasses

    out = []
    for rule in rules:
        thresholds = ", ".join(f"{f.name}={getattr(rule.params, f.name)}" for f in dataclasses.fields(rule.params))
        out.append(f"{rule.name} ({rule.resource_type}, {rule.kind}): {rule.summary}")
        out.append(f"    thresholds: {thresholds or 'none'}")
        out.append(f"    permissions: {', '.join(rule.permissions)}")
    return "\n".join(out)
