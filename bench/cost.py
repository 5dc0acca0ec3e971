"""What costguard costs to run for one account for a month, from the synthesized template (`make cost`).

Counts come from the template the app synthesizes with the given context (defaults: cdk.json); usage per run
comes from the measured figures below, each with where it was measured. List prices, us-east-1, without the
free tier (the last line shows what the always-free tier takes off). Exits 1 when the total is $1 or more.

    python bench/cost.py [-c key=value ...] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BUDGET_USD = 1.00
DAYS = 30.4
HOURS = 730.0
SQS_POLLERS = 5  # Lambda's SQS event source mapping starts with five long-polling connections
SQS_LONG_POLL_SECONDS = 20

# --- list prices (us-east-1) ---------------------------------------------------------------------------------
PRICE = {
    "lambda_gb_s_arm64": 0.0000133334,
    "lambda_request": 0.20 / 1_000_000,
    "ce_request": 0.01,  # Cost Explorer API, per request (GetCostAndUsage)
    "alarm_metric": 0.10,  # standard-resolution alarm, per metric it evaluates, per month (metric math: each metric)
    "custom_metric_month": 0.30,  # per metric (name x dimensions), prorated by the hour it receives data
    "get_metric_data_metric": 0.01 / 1000,  # per metric requested
    "dynamodb_write": 0.625 / 1_000_000,  # on-demand write request unit
    "dynamodb_read": 0.125 / 1_000_000,  # on-demand read request unit
    "logs_ingest_gb": 0.50,
    "sqs_request": 0.40 / 1_000_000,
    "sns_publish": 0.50 / 1_000_000,
    "kms_key_month": 1.00,  # only with budget_topic_encryption=true
    "kms_request": 0.03 / 10_000,
}


@dataclass(frozen=True)
class Usage:
    """A handler's measured usage per invocation and how often it runs."""

    invocations_per_month: float
    seconds: float  # billed duration per invocation
    ce_requests: float = 0.0
    dynamodb_writes: float = 0.0
    dynamodb_reads: float = 0.0
    metric_data_metrics: float = 0.0  # metrics requested from CloudWatch GetMetricData
    log_kb: float = 5.0
    source: str = ""


# Measured per invocation. The Cost Explorer figures are the ones tests/functional/test_spend_watch.py and
# tests/functional/test_budget_alerts.py assert (a quiet day: 1 request; +1 drill-down per new alert; a budget
# notice: at most 1, 0 when the shared history is fresh). DynamoDB and GetMetricData counts are from the calls
# tests/iam_recorder.py records (build/iam-calls.json), scaled to a mid-size account (40 services, 20 idle
# candidates). Durations: local runs against the stand-ins plus Cost Explorer's ~1 s latency, rounded up.
USAGE: dict[str, Usage] = {
    "costguard.handlers.spend_watch.handler": Usage(
        invocations_per_month=DAYS,
        seconds=4.0,
        ce_requests=1 + 3 / DAYS,  # 1 a day, plus ~3 alerts a month with one drill-down each
        dynamodb_writes=3 * 40 / 25 + 45,  # 3 re-fetched estimated days x 40 series (25 per batch) + states, outbox
        dynamodb_reads=60,
        source="1 scheduled run a day",
    ),
    "costguard.handlers.budget_alerts.handler": Usage(
        invocations_per_month=4,
        seconds=2.0,
        ce_requests=1,
        dynamodb_writes=10,
        dynamodb_reads=20,
        source="~4 budget/anomaly notices a month (80%, 100%, forecast, one anomaly)",
    ),
    "costguard.handlers.idle_sweep.handler": Usage(
        invocations_per_month=DAYS,
        seconds=45.0,
        dynamodb_writes=30,
        dynamodb_reads=10,
        metric_data_metrics=20 * 2,  # 20 candidates x 2 metrics (e.g. CPU + network, requests + targets)
        log_kb=20,
        source="1 scheduled run a day over 17 regions",
    ),
    "costguard.handlers.interactions.handler": Usage(
        invocations_per_month=10, seconds=0.5, dynamodb_writes=2, dynamodb_reads=2, source="~10 button clicks a month"
    ),
    "costguard.handlers.remediation_worker.handler": Usage(
        invocations_per_month=5, seconds=2.0, dynamodb_writes=4, dynamodb_reads=4, source="~5 approved actions a month"
    ),
}
DEFAULT_USAGE = Usage(invocations_per_month=DAYS, seconds=5.0, source="unknown handler: assumed daily")

_METRIC = re.compile(r'add_metric\(\s*name="([A-Za-z0-9_]+)"')


@dataclass
class Line:
    item: str
    arithmetic: str
    usd: float


@dataclass
class Estimate:
    lines: list[Line] = field(default_factory=list)
    free_tier_usd: float = 0.0

    @property
    def total(self) -> float:
        return sum(line.usd for line in self.lines)

    def add(self, item: str, arithmetic: str, usd: float) -> None:
        self.lines.append(Line(item, arithmetic, usd))


# --- reading the template ------------------------------------------------------------------------------------


def resources(template: Mapping[str, Any], type_: str) -> list[dict[str, Any]]:
    return [dict(r) for r in template["Resources"].values() if r["Type"] == type_]


def alarm_metric_count(alarm: Mapping[str, Any]) -> int:
    """CloudWatch bills an alarm per metric it evaluates: a metric-math alarm counts each metric in it."""
    queries = alarm["Properties"].get("Metrics")
    return sum(1 for q in queries if "MetricStat" in q) if queries else 1


def handler_metrics(handler: str, root: Path = ROOT) -> set[str]:
    """The custom metric names a handler module emits (all with the one dimension service=costguard)."""
    module = root / "functions" / (handler.rsplit(".", 1)[0].replace(".", "/") + ".py")
    return set(_METRIC.findall(module.read_text())) if module.is_file() else set()


def metric_hours(per_handler: Mapping[str, tuple[set[str], float]]) -> dict[str, float]:
    """Hours a month each distinct metric receives data: a metric emitted by several handlers adds their runs."""
    hours: dict[str, float] = {}
    for names, invocations in per_handler.values():
        for name in names:
            hours[name] = min(HOURS, hours.get(name, 0.0) + invocations)  # each run's datapoints land in one hour
    return hours


# --- the estimate --------------------------------------------------------------------------------------------


def estimate(template: Mapping[str, Any], usage: Mapping[str, Usage] = USAGE, root: Path = ROOT) -> Estimate:
    est = Estimate()
    functions = resources(template, "AWS::Lambda::Function")
    handlers = [(f["Properties"]["Handler"], int(f["Properties"].get("MemorySize", 128))) for f in functions]
    used = {h: usage.get(h, DEFAULT_USAGE) for h, _ in handlers}

    gb_s = sum(used[h].invocations_per_month * used[h].seconds * mb / 1024 for h, mb in handlers)
    requests = sum(u.invocations_per_month for u in used.values())
    est.add(
        f"Lambda ({len(functions)} functions, arm64)",
        f"{gb_s:,.0f} GB-s x ${PRICE['lambda_gb_s_arm64']} + {requests:,.0f} requests x $0.20/1M",
        gb_s * PRICE["lambda_gb_s_arm64"] + requests * PRICE["lambda_request"],
    )

    ce = sum(u.invocations_per_month * u.ce_requests for u in used.values())
    est.add("Cost Explorer API", f"{ce:,.1f} requests x $0.01", ce * PRICE["ce_request"])

    alarms = resources(template, "AWS::CloudWatch::Alarm")
    alarm_metrics = sum(alarm_metric_count(a) for a in alarms)
    est.add(
        f"CloudWatch alarms ({len(alarms)} alarms)",
        f"{alarm_metrics} alarm metrics x $0.10",
        alarm_metrics * PRICE["alarm_metric"],
    )

    emitted = {h: (handler_metrics(h, root), used[h].invocations_per_month) for h, _ in handlers}
    hours = metric_hours(emitted)
    metric_hours_total = sum(hours.values())
    est.add(
        f"Custom metrics ({len(hours)} EMF metrics)",
        f"{metric_hours_total:,.0f} metric-hours x $0.30/730 h (prorated by the hour; "
        f"${len(hours) * PRICE['custom_metric_month']:.2f} if every one sent data every hour)",
        metric_hours_total * PRICE["custom_metric_month"] / HOURS,
    )

    gmd = sum(u.invocations_per_month * u.metric_data_metrics for u in used.values())
    est.add("CloudWatch GetMetricData", f"{gmd:,.0f} metrics x $0.01/1,000", gmd * PRICE["get_metric_data_metric"])

    writes = sum(u.invocations_per_month * u.dynamodb_writes for u in used.values())
    reads = sum(u.invocations_per_month * u.dynamodb_reads for u in used.values())
    tables = len(resources(template, "AWS::DynamoDB::Table"))
    est.add(
        f"DynamoDB on-demand ({tables} table)",
        f"{writes:,.0f} writes x $0.625/1M + {reads:,.0f} reads x $0.125/1M (storage + PITR: < 1 MB, ~$0)",
        writes * PRICE["dynamodb_write"] + reads * PRICE["dynamodb_read"],
    )

    log_gb = sum(u.invocations_per_month * u.log_kb for u in used.values()) / 1024 / 1024
    groups = resources(template, "AWS::Logs::LogGroup")
    est.add(
        f"CloudWatch Logs ({len(groups)} groups, retention {_retentions(groups)})",
        f"{log_gb * 1024:,.1f} MB ingested x $0.50/GB",
        log_gb * PRICE["logs_ingest_gb"],
    )

    queues = resources(template, "AWS::SQS::Queue")
    topics = resources(template, "AWS::SNS::Topic")
    est.add(
        f"SQS ({len(queues)} queues) and SNS ({len(topics)} topics)",
        "queues nobody polls bill nothing; a few messages and notifications x $0.40-0.50/1M",
        (requests * 2) * PRICE["sqs_request"] + 20 * PRICE["sns_publish"],
    )
    # An SQS event source mapping polls all the time, messages or not: Lambda keeps (at least) five long polls
    # of up to 20 s open, each an SQS ReceiveMessage request.
    mappings = [m for m in resources(template, "AWS::Lambda::EventSourceMapping") if _polls_sqs(template, m)]
    polls = len(mappings) * SQS_POLLERS * (3600 / SQS_LONG_POLL_SECONDS) * HOURS
    est.add(
        f"SQS polling ({len(mappings)} Lambda SQS triggers, always on)",
        f"{len(mappings)} x {SQS_POLLERS} pollers x {3600 / SQS_LONG_POLL_SECONDS:.0f}/h x 730 h = {polls:,.0f} "
        "requests x $0.40/1M",
        polls * PRICE["sqs_request"],
    )

    keys = resources(template, "AWS::KMS::Key")
    decrypts = sum(u.invocations_per_month for u in used.values())
    est.add(
        f"KMS ({len(keys)} customer-managed keys)",
        f"{len(keys)} x $1 + {decrypts:,.0f} decrypts x $0.03/10k (the token uses the free aws/ssm key)",
        len(keys) * PRICE["kms_key_month"] + decrypts * PRICE["kms_request"],
    )

    parameters = resources(template, "AWS::SSM::Parameter")
    urls = resources(template, "AWS::Lambda::Url")
    budgets = resources(template, "AWS::Budgets::Budget")
    rules = resources(template, "AWS::Events::Rule")
    est.add(
        "EventBridge, Function URLs, Budgets, SSM",
        f"free: {len(rules)} rules (schedules, AWS service events), {len(urls)} Function URLs, {len(budgets)} "
        f"budgets (2 free), {len(parameters)} standard parameters + the SecureString token (standard tier)",
        0.0,
    )

    # What the always-free tier takes off when nothing else in the account uses it.
    free_alarm_metrics = min(alarm_metrics, 10)
    free_metrics = sorted(hours.values(), reverse=True)[:10]
    est.free_tier_usd = (
        free_alarm_metrics * PRICE["alarm_metric"]
        + sum(free_metrics) * PRICE["custom_metric_month"] / HOURS
        + min(gb_s * PRICE["lambda_gb_s_arm64"] + requests * PRICE["lambda_request"], 400_000 * 0.0000133334)
        + min(log_gb, 5.0) * PRICE["logs_ingest_gb"]
        + min(polls + requests * 2, 1_000_000) * PRICE["sqs_request"]
    )
    return est


def _polls_sqs(template: Mapping[str, Any], mapping: Mapping[str, Any]) -> bool:
    source = mapping["Properties"].get("EventSourceArn")
    if isinstance(source, dict) and "Fn::GetAtt" in source:
        return bool(template["Resources"].get(source["Fn::GetAtt"][0], {}).get("Type") == "AWS::SQS::Queue")
    return ":sqs:" in json.dumps(source)


def _retentions(groups: Iterable[Mapping[str, Any]]) -> str:
    days = sorted({g["Properties"].get("RetentionInDays", "NEVER") for g in groups}, key=str)
    return "/".join(f"{d} days" for d in days) or "-"


def synthesize(context: Mapping[str, Any]) -> dict[str, Any]:
    """The template `cdk synth` would produce with cdk.json's context plus `context` (stub bundling: no pip)."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    os.environ.setdefault("CDK_DISABLE_CLI_TELEMETRY", "true")
    os.environ.setdefault("CDK_DISABLE_VERSION_CHECK", "1")
    sys.path[:0] = [str(ROOT), str(ROOT / "functions")]
    from aws_cdk.assertions import Template

    from infra.app import build_app

    with tempfile.TemporaryDirectory() as outdir:
        _, stack = build_app({"slack_channel_id": "C0COSTGUARD", "bundling": "stub", **context}, outdir=outdir)
        return dict(Template.from_stack(stack).to_json())


def render(est: Estimate) -> str:
    width = max(len(line.item) for line in est.lines)
    rows = [f"{line.item:<{width}}  ${line.usd:8.4f}   {line.arithmetic}" for line in est.lines]
    rule = "-" * (width + 12)
    verdict = "under" if est.total < BUDGET_USD else "OVER"
    return "\n".join(
        [
            "costguard: monthly cost for one account (list prices, us-east-1, no free tier)",
            rule,
            *rows,
            rule,
            f"{'Total':<{width}}  ${est.total:8.4f}   {verdict} the ${BUDGET_USD:.2f}/month goal",
            f"{'With the always-free tier':<{width}}  ${max(0.0, est.total - est.free_tier_usd):8.4f}   "
            "(10 alarm metrics, 10 custom metrics, 400k GB-s, 5 GB logs, 1M SQS requests, if unused elsewhere)",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    context = dict(item.split("=", 1) for item in args.context)
    est = estimate(synthesize(context))
    if args.json:
        print(json.dumps({"total_usd": est.total, "lines": [line.__dict__ for line in est.lines]}, indent=2))
    else:
        print(render(est))
    return 0 if est.total < BUDGET_USD else 1


if __name__ == "__main__":
    sys.exit(main())
