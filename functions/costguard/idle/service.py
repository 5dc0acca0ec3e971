"""The daily idle sweep: scan, decide, tag (unless dry run), remember, and post the digest once a day.

Idempotent: tags converge to the wanted set (a re-run changes nothing), finding records are keyed by
the finding id, and each digest part is marked posted, so a retried invocation posts only what is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.models.blocks import InteractiveElement

from costguard.adapters.slack_notifier import Notifier
from costguard.idle import tagging
from costguard.idle.core import Decision, decide
from costguard.idle.inventory import ClientFactory
from costguard.idle.model import Finding
from costguard.idle.pricing import PRICES_AS_OF
from costguard.idle.rules import REGISTRY, Rule
from costguard.idle.scan import Progress, ScanResult, scan
from costguard.idle.store import DIGEST_MARKER_TTL_SECONDS, IdleStore
from costguard.slack import blocks


class DigestDeliveryError(RuntimeError):
    """Some digest parts could not be posted; the next run (or Lambda's retry) posts them."""


@dataclass
class SweepReport:
    day: str
    account: str
    regions: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # region -> why
    resources: int = 0
    findings: int = 0
    new: int = 0
    resolved: int = 0
    monthly_idle: float = 0.0  # known costs only
    monthly_saving: float = 0.0
    unknown_cost: int = 0
    tag_changes: int = 0
    tag_calls: int = 0
    posted: int = 0
    dry_run: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "monthly_idle": round(self.monthly_idle, 2),
            "monthly_saving": round(self.monthly_saving, 2),
        }


def rule_titles() -> dict[str, str]:
    return {name: cls.summary[:1].upper() + cls.summary[1:] for name, cls in REGISTRY.items()}


def sweep(
    now: datetime,
    *,
    clients: ClientFactory,
    rules: Sequence[Rule],
    regions: Sequence[str],
    account: str,
    store: IdleStore | None,
    excluded_accounts: Sequence[str] = (),
    apply_tags: bool = False,
    progress: Progress | None = None,
) -> tuple[ScanResult, Decision, SweepReport]:
    """Scan and decide; with `apply_tags`, tag and untag; with a store, remember the findings."""
    result = scan(now, clients=clients, rules=rules, regions=regions, account=account, progress=progress)
    stored = store.findings(account) if store is not None else {}
    decision = decide(
        now,
        findings=result.findings,
        scanned=result.scanned,
        stored=stored,
        rule_order=[r.name for r in rules],
        scanned_regions=result.scanned_regions,
        excluded_accounts=excluded_accounts,
    )
    report = SweepReport(
        day=now.date().isoformat(),
        account=account,
        regions=result.scanned_regions,
        skipped={r.region: r.error for r in result.skipped},
        resources=sum(r.resources for r in result.regions),
        findings=len(decision.findings),
        new=sum(decision.is_new(f, now) for f in decision.findings),
        resolved=len(decision.resolved),
        monthly_idle=sum(f.monthly_cost or 0.0 for f in decision.findings if f.kind == "idle"),
        monthly_saving=sum(f.monthly_cost or 0.0 for f in decision.findings if f.kind == "saving"),
        unknown_cost=sum(f.monthly_cost is None for f in decision.findings),
        tag_changes=len(decision.tag_changes),
        dry_run=not apply_tags,
    )
    if apply_tags:
        report.tag_calls = tagging.apply(clients, decision.tag_changes)
    if store is not None:
        store.put_findings(account, decision.states)
    return result, decision, report


def digest_messages(
    decision: Decision,
    now: datetime,
    *,
    skipped: dict[str, str],
    dry_run: bool,
    actions: Callable[[Finding], Sequence[InteractiveElement]] | None = None,
) -> list[blocks.Message]:
    if not decision.findings:
        return []
    notes = [f"Monthly figures: on-demand list prices as of {PRICES_AS_OF}, hourly fees and storage only"]
    if skipped:
        notes.append("Not scanned: " + ", ".join(f"{r} ({why.split(':', 1)[0]})" for r, why in sorted(skipped.items())))
    notes.append("dry run: nothing tagged" if dry_run else "tagged costguard:finding")
    new = {f.id for f in decision.findings if decision.is_new(f, now)}
    return blocks.idle_digest(
        decision.findings, day=now.date().isoformat(), rule_titles=rule_titles(), new=new, actions=actions, notes=notes
    )


def post_digest(
    messages: Sequence[blocks.Message],
    *,
    store: IdleStore,
    notifier: Notifier,
    channel: str,
    account: str,
    now: datetime,
) -> int:
    """Post the parts not yet posted today, in order; a failure raises after marking what went out."""
    day = now.date().isoformat()
    done = store.posted_parts(account, day)
    expires = int((now + timedelta(seconds=DIGEST_MARKER_TTL_SECONDS)).timestamp())
    posted = 0
    for part, message in enumerate(messages):
        if part in done:
            continue
        try:
            ts = notifier.post(channel, message.text, message.blocks)
        except Exception as exc:
            raise DigestDeliveryError(
                f"Slack refused digest part {part + 1}/{len(messages)} after {posted} posted"
            ) from exc
        store.mark_posted(account, day, part, ts, expires)
        posted += 1
    return posted
