"""Scan regions concurrently: describe what the rules look at, fetch every candidate's metrics in batched
GetMetricData calls, let the rules judge and price. A region that is disabled or denies access is
reported and skipped; anything else (throttling that outlasts the retries, a bug) fails the scan."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from costguard.idle import metrics
from costguard.idle.inventory import ClientFactory, Inventory, describe
from costguard.idle.model import EBS_VOLUME, EC2_INSTANCE, Finding, MetricRequest, Resource
from costguard.idle.rules import Context, Rule, window

# What AWS answers when a region is not enabled for the account or a policy (SCP, role) denies the call.
ACCESS_ERRORS = frozenset(
    {
        "AuthFailure",
        "UnauthorizedOperation",
        "AccessDenied",
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "OptInRequired",
        "SignatureDoesNotMatch",
    }
)
MAX_REGION_WORKERS = 8

Progress = Callable[[str, str], None]  # (region, what happened): "start" | "done" | "skipped"


@dataclass
class RegionResult:
    region: str
    status: str = "ok"  # ok | skipped
    error: str = ""
    resources: int = 0
    findings: list[Finding] = field(default_factory=list)
    scanned: list[Resource] = field(default_factory=list)  # resources of the rules' types (for untagging)


@dataclass
class ScanResult:
    account: str
    regions: list[RegionResult]

    @property
    def findings(self) -> list[Finding]:
        return [f for r in self.regions for f in r.findings]

    @property
    def scanned(self) -> list[Resource]:
        return [s for r in self.regions for s in r.scanned]

    @property
    def scanned_regions(self) -> list[str]:
        return [r.region for r in self.regions if r.status == "ok"]

    @property
    def skipped(self) -> list[RegionResult]:
        return [r for r in self.regions if r.status != "ok"]


def account_id(clients: ClientFactory, region: str) -> str:
    return str(clients("sts", region).get_caller_identity()["Account"])


def enabled_regions(clients: ClientFactory, home: str) -> list[str]:
    """Regions this account can use (opted-in or needing no opt-in), from DescribeRegions in `home`."""
    response = clients("ec2", home).describe_regions(AllRegions=False)
    return sorted(
        r["RegionName"]
        for r in response.get("Regions", [])
        if r.get("OptInStatus", "opt-in-not-required") in ("opt-in-not-required", "opted-in")
    )


def resource_types(rules: Sequence[Rule]) -> set[str]:
    types = {r.resource_type for r in rules}
    if EC2_INSTANCE in types:
        types.add(EBS_VOLUME)  # instances are priced with their volumes
    return types


def evaluate_region(inv: Inventory, rules: Sequence[Rule], now: datetime, cloudwatch: Any) -> list[Finding]:
    """Candidates per rule, their metrics in batches (one set of batches per lookback), then verdicts."""
    wanted: dict[int, list[tuple[Hashable, MetricRequest]]] = {}
    candidates: list[tuple[Rule, Resource]] = []
    for rule in rules:
        for r in inv.resources.get(rule.resource_type, []):
            if r.kept or not rule.candidate(r, now):
                continue
            candidates.append((rule, r))
            for m in rule.metrics(r):
                wanted.setdefault(rule.lookback_days, []).append(((rule.name, r.id, m.key), m))
    series: dict[Hashable, Any] = {}
    for days, requests in sorted(wanted.items()):
        start, end = window(now, days)
        series.update(metrics.fetch(cloudwatch, requests, start, end))
    volumes = inv.volumes
    findings = []
    for rule, r in candidates:
        mine = {m.key: series[(rule.name, r.id, m.key)] for m in rule.metrics(r)}
        ctx = Context(now=now, series=mine, volumes=volumes)
        verdict = rule.evaluate(r, ctx)
        if verdict is not None:
            findings.append(
                Finding(
                    rule=rule.name,
                    kind=rule.kind,
                    resource=r,
                    reason=verdict.reason,
                    monthly_cost=rule.monthly_cost(r, ctx),
                    evidence=verdict.evidence,
                )
            )
    return findings


def scan_region(
    clients: ClientFactory, region: str, account: str, rules: Sequence[Rule], now: datetime
) -> RegionResult:
    result = RegionResult(region)
    try:
        inv = describe(clients, region, account, resource_types(rules))
        result.resources = inv.count()
        rule_types = {r.resource_type for r in rules}
        result.scanned = [r for t, rs in inv.resources.items() if t in rule_types for r in rs]
        result.findings = evaluate_region(inv, rules, now, clients("cloudwatch", region))
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code not in ACCESS_ERRORS:
            raise
        return RegionResult(region, status="skipped", error=f"{code}: {error.response['Error'].get('Message', '')}")
    return result


def scan(
    now: datetime,
    *,
    clients: ClientFactory,
    rules: Sequence[Rule],
    regions: Sequence[str],
    account: str,
    progress: Progress | None = None,
    max_workers: int = MAX_REGION_WORKERS,
) -> ScanResult:
    def one(region: str) -> RegionResult:
        if progress:
            progress(region, "start")
        result = scan_region(clients, region, account, rules, now)
        if progress:
            progress(region, "done" if result.status == "ok" else "skipped")
        return result

    workers = max(1, min(max_workers, len(regions)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="costguard-scan") as pool:
        results = list(pool.map(one, regions))
    return ScanResult(account=account, regions=results)
