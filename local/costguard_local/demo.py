"""`costguard demo`: the daily spend watch on embedded stand-ins (moto's server, the Slack stand-in), run
through the same Lambda handler and EventBridge event shape as in AWS, over the real workshop billing."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from costguard_local.seed import CostRow

DEMO_TABLE = "costguard-demo-state"
DEMO_CHANNEL = "C0COSTGUARD"
DEMO_TOKEN = "xoxb-costguard-demo"
FIRST_RUN = date(2018, 10, 3)
LAST_RUN = date(2019, 1, 1)
HISTORY_DAYS = 120
IDLE_REGIONS = ("us-east-1", "us-west-2")
RECENT_SPIKE_SERVICE = "Amazon Elastic Compute Cloud - Compute"
RECENT_SPIKE_ACCOUNT = "836060457634"
RECENT_SPIKE_USAGE = "USE1-BoxUsage:p3.2xlarge"
RECENT_SPIKE = {date(2018, 12, 30): 3 * 3.06 * 24, date(2018, 12, 31): 3 * 3.06 * 24}
DEMO_SIGNING_SECRET = "costguard-demo-signing-secret"
DEMO_USERS = {"U0ALICE": "alice (approver)", "U0CAROL": "carol (approver)", "U0BOB": "bob (not an approver)"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-serve", action="store_true", help="print the conversation and exit")
    parser.add_argument("--format", choices=["text", "json"], default="text")
    parser.add_argument("--serve-seconds", type=float, default=0, help="stop serving after this long (0: until Ctrl-C)")


def _usage_shares(service: str) -> list[tuple[str, float, date | None]]:
    # The export has no usage types: the demo splits a service's cost over plausible ones.
    return [
        (f"USE1-{service.rsplit(maxsplit=1)[-1]}-Usage", 0.8, None),
        (f"USE1-{service.rsplit(maxsplit=1)[-1]}-Requests", 0.2, None),
    ]


class DemoWorld:
    """The stand-ins with the demo account in them: moto's server, the Slack stand-in, the state table and the
    token; then the daily spend watch, a budget notification and the idle sweep, run through the Lambda
    handlers with the event shapes AWS delivers. `serve()` adds the interactions endpoint, the worker and the
    Slack-like page. Used by `costguard demo` and by the browser test."""

    def __init__(self) -> None:
        from costguard_local.standins.aws import MotoStandIn
        from costguard_local.standins.slack import SlackStandIn

        self.moto = MotoStandIn().start()
        self.slack = SlackStandIn(
            tokens=[DEMO_TOKEN], channels=[DEMO_CHANNEL], users=dict(DEMO_USERS), signing_secret=DEMO_SIGNING_SECRET
        ).start()
        self.env = {
            **self.moto.env(),
            "COSTGUARD_TABLE": DEMO_TABLE,
            "SLACK_CHANNEL": DEMO_CHANNEL,
            "SLACK_TOKEN_PARAMETER": "/costguard/slack/bot-token",
            "SLACK_API_URL": self.slack.base_url,
            "HISTORY_DAYS": str(HISTORY_DAYS),
            "POWERTOOLS_SERVICE_NAME": "costguard",
            "POWERTOOLS_METRICS_NAMESPACE": "Costguard",
            "POWERTOOLS_TRACER_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
            "POWERTOOLS_METRICS_DISABLED": "true",
        }
        # Approvals: the digest gets buttons; alice and carol may approve, bob may not. Not a dry run here,
        # so a click really remediates in moto.
        self.env.update(
            {
                "APPROVAL_BUTTONS": "true",
                "APPROVERS": json.dumps({"*": [u for u in DEMO_USERS if u != "U0BOB"]}),
                "TWO_PERSON_ACTIONS": "release-eip",
                "SLACK_RESPONSE_URL_PREFIX": self.slack.url,
                "DRY_RUN": "false",
                "WAITER_DELAY_SECONDS": "1",
            }
        )
        self.reports: list[dict[str, Any]] = []
        self.budget: dict[str, Any] = {}
        self.idle: dict[str, Any] = {}
        self._stoppers: list[Any] = [self.slack.stop, self.moto.stop]
        self.page_url: str | None = None
        self.interactions_url: str | None = None

    def __enter__(self) -> DemoWorld:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        while self._stoppers:
            self._stoppers.pop(0)()

    def run_story(self) -> None:
        from costguard_local.standins.aws import create_state_table, patched_env

        # The handlers read their settings from the environment, also later while serving: keep it set
        # for the world's lifetime.
        env = patched_env(self.env)
        env.__enter__()
        self._stoppers.append(lambda: env.__exit__(None, None, None))
        _clear_handler_caches()
        create_state_table(self.moto.client("dynamodb"), DEMO_TABLE)
        ssm = self.moto.client("ssm")
        ssm.put_parameter(Name="/costguard/slack/bot-token", Value=DEMO_TOKEN, Type="SecureString", Overwrite=True)
        ssm.put_parameter(
            Name="/costguard/slack/signing-secret", Value=DEMO_SIGNING_SECRET, Type="SecureString", Overwrite=True
        )
        queue_url = self.moto.client("sqs").create_queue(QueueName="costguard-approvals")["QueueUrl"]
        os.environ["APPROVALS_QUEUE_URL"] = queue_url
        self.reports = _spend_watch_days(self.moto.endpoint)
        self.budget = _budget_alert()
        self.idle = _idle_sweep(self.moto.endpoint)

    def serve(self) -> None:
        """The interactions endpoint (the Lambda handler behind a Function-URL-shaped adapter), the worker
        draining the queue in the background, and the Slack-like page whose buttons send signed requests."""
        from costguard.handlers import interactions, remediation_worker

        from costguard_local.standins.function_url import FunctionUrlServer
        from costguard_local.standins.sqs_worker import SqsWorker
        from costguard_local.web.server import ChannelPage

        endpoint = FunctionUrlServer(interactions.handler).start()
        self._stoppers.insert(0, endpoint.stop)
        self.interactions_url = endpoint.url + "slack/actions"
        worker = SqsWorker(
            self.moto.client("sqs"), os.environ["APPROVALS_QUEUE_URL"], remediation_worker.handler
        ).start()
        self._stoppers.insert(0, worker.stop)
        page = ChannelPage(
            self.slack, DEMO_CHANNEL, interactions_url=self.interactions_url, users=dict(DEMO_USERS)
        ).start()
        self._stoppers.insert(0, page.stop)
        self.page_url = page.url


def _clear_handler_caches() -> None:
    """Handlers cache settings per cold start; the demo changes the environment, so start cold."""
    from costguard.handlers import budget_alerts, idle_sweep, interactions, remediation_worker, spend_watch

    for cached in (
        spend_watch._settings,
        budget_alerts._settings,
        idle_sweep._settings,
        interactions._settings,
        interactions._directory,
        interactions._intake,
        remediation_worker._settings,
    ):
        cached.cache_clear()


def recent_spike_rows() -> list[CostRow]:
    """On top of the real billing, a recent spike at the end of the story: three p3.2xlarge instances
    ($3.06/h each) left running over the last two days of December."""
    return [CostRow(day, RECENT_SPIKE_ACCOUNT, RECENT_SPIKE_SERVICE, cost) for day, cost in RECENT_SPIKE.items()]


def _with_spike_usage(response: dict[str, Any], series: str) -> dict[str, Any]:
    """The drill-down answer names the spike's own usage type on its days."""
    if series != RECENT_SPIKE_SERVICE:
        return response
    for result in response["ResultsByTime"]:
        cost = RECENT_SPIKE.get(date.fromisoformat(result["TimePeriod"]["Start"]))
        if cost:
            amount = {"UnblendedCost": {"Amount": f"{cost:.10f}", "Unit": "USD"}}
            result["Groups"].append({"Keys": [RECENT_SPIKE_USAGE], "Metrics": amount})
    return response


def _spend_watch_days(endpoint: str) -> list[dict[str, Any]]:
    """Daily spend-watch runs over the workshop billing, each seeded with exactly the Cost Explorer answers
    it will ask for."""
    from costguard.detect.core import DetectorParams
    from costguard.detect.replay import replay
    from costguard.handlers import spend_watch

    from costguard_local.lambda_runtime import FakeLambdaContext, scheduled_event
    from costguard_local.seed import ce_response, load_workshop, seed_ce, usage_split

    base = load_workshop()
    rows = base + recent_spike_rows()
    # Which series open an episode on which day decides which drill-down requests the runs will make;
    # the offline replay is the same detector the Lambda steps daily, so it knows.
    opens = {
        (e.day, e.series)
        for e in replay(((r.day, r.service, r.cost) for r in rows), DetectorParams())
        if e.action == "open"
    }
    spend_watch._settings.cache_clear()
    reports: list[dict[str, Any]] = []
    fetched_until: date | None = None
    run_day = FIRST_RUN
    while run_day <= LAST_RUN:
        target = run_day - timedelta(days=1)
        start = fetched_until or target - timedelta(days=HISTORY_DAYS - 1)
        responses = [ce_response(rows, start, run_day)]
        responses += [
            _with_spike_usage(
                usage_split(base, series, day - timedelta(days=14), day + timedelta(days=1), _usage_shares(series)),
                series,
            )
            for day, series in sorted(opens)
            if day == target
        ]
        seed_ce(endpoint, responses)
        now = datetime(run_day.year, run_day.month, run_day.day, 13, 0, tzinfo=UTC)
        reports.append(spend_watch.handler(scheduled_event(now), FakeLambdaContext("spend-watch")))
        fetched_until = run_day
        run_day += timedelta(days=1)
    return reports


def run(args: argparse.Namespace) -> int:
    world = DemoWorld()
    try:
        world.run_story()
        _print(world.slack, world.reports, args.format, world.budget, world.idle)
        if args.no_serve:
            return 0
        world.serve()
        print(f"\nSlack-like channel page: {world.page_url}", file=sys.stderr)
        print(f"Interactions endpoint:   {world.interactions_url or '(not running)'}", file=sys.stderr)
        print("Press Ctrl-C to stop.", file=sys.stderr)
        deadline = time.monotonic() + args.serve_seconds if args.serve_seconds else None
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        world.stop()
    return 0


def _budget_alert() -> dict[str, Any]:
    """A FORECASTED 100 % AWS Budgets notification, delivered as SNS delivers it, through the budget handler."""
    from costguard_local.demo_budget import run_budget_demo

    return run_budget_demo()


def _idle_sweep(endpoint: str) -> dict[str, Any]:
    """Idle and busy twins for every rule in two regions (real NAB metric shapes), then the idle-sweep handler
    on a scheduled event, tagging for real."""
    from costguard.handlers import idle_sweep

    from costguard_local.idle_seed import IdleSeeder, seed_twins
    from costguard_local.lambda_runtime import FakeLambdaContext, scheduled_event
    from costguard_local.standins.aws import patched_env

    now = datetime.now(UTC).replace(hour=6, minute=0, second=0, microsecond=0)
    seeder = IdleSeeder(endpoint, now)
    seed_twins(seeder, IDLE_REGIONS)
    with patched_env({"IDLE_REGIONS": ",".join(IDLE_REGIONS), "APPLY_TAGS": "true"}):
        idle_sweep._settings.cache_clear()
        result: dict[str, Any] = idle_sweep.handler(
            scheduled_event(now, rule="costguard-idle-sweep"), FakeLambdaContext("idle-sweep")
        )
    return result


def _print(slack: Any, reports: list[dict[str, Any]], fmt: str, budget: dict[str, Any], idle: dict[str, Any]) -> None:
    messages = slack.messages_in(DEMO_CHANNEL)
    if fmt == "json":
        for m in messages:
            print(
                json.dumps(
                    {
                        "channel": m.channel,
                        "ts": m.ts,
                        "thread_ts": m.thread_ts,
                        "text": m.text,
                        "blocks": m.blocks,
                    }
                )
            )
        return
    requests = sum(r["ce_requests"] for r in reports)
    print(
        f"costguard demo: {len(reports)} daily runs of the spend watch over the workshop billing "
        f"({reports[0]['day']} .. {reports[-1]['day']}), {requests} Cost Explorer requests, "
        f"{len(messages)} Slack messages"
    )
    print(f"budget notification (FORECASTED 100%): {budget}")
    print(f"idle sweep: {idle.get('findings')} findings in {', '.join(IDLE_REGIONS)}, {idle.get('posted')} posts\n")
    for m in messages:
        indent = "    ↳ " if m.thread_ts else ""
        print(f"{indent}{render_text(m.blocks) or m.text}\n")


def render_text(blocks: list[dict[str, Any]]) -> str:
    """A terminal rendering of the Block Kit we post."""
    out: list[str] = []
    for b in blocks:
        if b["type"] == "header":
            out.append(f"== {b['text']['text']} ==")
        elif b["type"] == "section":
            if "text" in b:
                out.append(b["text"]["text"])
            for f in b.get("fields", []):
                out.append("  " + f["text"].replace("\n", ": ", 1))
        elif b["type"] == "context":
            out.append("  " + " ".join(e.get("text", "") for e in b["elements"]))
        elif b["type"] == "actions":
            out.append("  " + " ".join(f"[{e['text']['text']}]" for e in b["elements"]))
    return "\n".join(out)
