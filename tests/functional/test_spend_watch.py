"""The spend-watch handler in-process against moto's server (real boto3 over HTTP) and the Slack stand-in,
with Cost Explorer seeded from the real workshop billing data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from costguard.handlers import spend_watch
from costguard.spend.service import SlackDeliveryError
from costguard_local.lambda_runtime import FakeLambdaContext, scheduled_event
from costguard_local.seed import CostRow, ce_response, load_workshop, seed_ce, usage_split
from costguard_local.standins.aws import MotoStandIn, create_state_table
from costguard_local.standins.proxy import CountingProxy
from costguard_local.standins.slack import SlackStandIn

from tests.conftest import CHANNEL, SLACK_TOKEN

pytestmark = pytest.mark.functional
TABLE = "costguard-state"
GLUE = "AWS Glue"
GLUE_SHARES = [("USE1-DPU-Hour", 0.9, None), ("USE1-Crawler-DPU-Hour", 0.1, None)]


@pytest.fixture
def env(moto: MotoStandIn, slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch) -> MotoStandIn:
    create_state_table(moto.client("dynamodb"), TABLE)
    moto.client("ssm").put_parameter(
        Name="/costguard/slack/bot-token", Value=SLACK_TOKEN, Type="SecureString", Overwrite=True
    )
    monkeypatch.setenv("COSTGUARD_TABLE", TABLE)
    monkeypatch.setenv("SLACK_CHANNEL", CHANNEL)
    monkeypatch.setenv("SLACK_TOKEN_PARAMETER", "/costguard/slack/bot-token")
    monkeypatch.setenv("SLACK_API_URL", slack.base_url)
    spend_watch._settings.cache_clear()
    return moto


def run(day: date) -> dict[str, Any]:
    now = datetime(day.year, day.month, day.day, 13, 0, tzinfo=UTC)
    result: dict[str, Any] = spend_watch.handler(scheduled_event(now), FakeLambdaContext("spend-watch"))
    return result


def first_run(rows: list[CostRow], moto: MotoStandIn) -> dict[str, Any]:
    """Run on 2018-10-10 (evaluates 10-09): backfills 120 days in one request; 10-08 on are estimated."""
    seed_ce(
        moto.endpoint,
        [ce_response(rows, date(2018, 6, 12), date(2018, 10, 10), estimated_from=date(2018, 10, 8))],
    )
    return run(date(2018, 10, 10))


def test_glue_step_is_alerted_with_explanation(env: MotoStandIn, slack: SlackStandIn) -> None:
    rows = load_workshop()
    quiet = first_run(rows, env)
    assert quiet["alerts"] == 0
    assert quiet["ce_requests"] == 1
    assert slack.messages_in(CHANNEL) == []

    # Next day: only the estimated and new days are fetched (one request), plus one drill-down for the alert.
    seed_ce(
        env.endpoint,
        [
            ce_response(rows, date(2018, 10, 8), date(2018, 10, 11), estimated_from=date(2018, 10, 10)),
            usage_split(rows, GLUE, date(2018, 9, 26), date(2018, 10, 11), GLUE_SHARES),
        ],
    )
    report = run(date(2018, 10, 11))
    assert report["ce_requests"] == 2
    assert [(e["series"], e["action"]) for e in report["events"]] == [(GLUE, "open")]

    [message] = slack.messages_in(CHANNEL)
    assert GLUE in message.text
    rendered = str(message.blocks)
    assert "USE1-DPU-Hour" in rendered  # the usage type behind it
    assert "Sustained increase" in rendered or "Sudden jump" in rendered
    assert "Month-end forecast" in rendered
    assert "cost-explorer" in rendered and "AWS%20Glue" in rendered
    assert "estimates" in rendered  # 10-10 is still an estimated day
    glue = [r for r in rows if r.service == GLUE and r.day == date(2018, 10, 10)]
    actual = sum(r.cost for r in glue)
    assert f"${actual:,.0f}" in rendered or f"${actual:,.2f}" in rendered


def test_quiet_day_costs_one_request_and_posts_nothing(env: MotoStandIn, slack: SlackStandIn) -> None:
    rows = load_workshop()
    first_run(rows, env)
    seed_ce(env.endpoint, [ce_response(rows, date(2018, 10, 8), date(2018, 10, 10))])
    report = run(date(2018, 10, 10))  # same day again: re-fetch the estimated days only, nothing new
    assert report["ce_requests"] == 1
    assert report["alerts"] == 0
    assert slack.messages_in(CHANNEL) == []


def test_throttling_is_retried_with_backoff(
    env: MotoStandIn, slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = CountingProxy(env.endpoint).start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
        proxy.throttle("GetCostAndUsage", times=2)
        report = first_run(load_workshop(), env)
        assert proxy.calls["GetCostAndUsage"] == 3  # two refusals, then the answer
        assert report["ce_requests"] == 1
    finally:
        proxy.stop()


def test_persistent_throttling_fails_loudly_without_side_effects(
    env: MotoStandIn, slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = CountingProxy(env.endpoint).start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
        proxy.throttle("GetCostAndUsage")
        with pytest.raises(ClientError, match="LimitExceeded"):
            first_run(load_workshop(), env)
        assert proxy.calls["GetCostAndUsage"] == 6  # standard retry mode, 6 attempts
    finally:
        proxy.stop()
    items = env.client("dynamodb").scan(TableName=TABLE)["Items"]
    assert items == []  # nothing half-stored
    assert slack.messages_in(CHANNEL) == []


def test_slack_outage_delays_the_alert_and_never_drops_it(env: MotoStandIn, slack: SlackStandIn) -> None:
    rows = load_workshop()
    first_run(rows, env)
    seed_ce(
        env.endpoint,
        [
            ce_response(rows, date(2018, 10, 8), date(2018, 10, 11)),
            usage_split(rows, GLUE, date(2018, 9, 26), date(2018, 10, 11), GLUE_SHARES),
        ],
    )
    slack.down()
    with pytest.raises(SlackDeliveryError):
        run(date(2018, 10, 11))
    assert slack.messages_in(CHANNEL) == []

    slack.up()
    seed_ce(env.endpoint, [ce_response(rows, date(2018, 10, 11), date(2018, 10, 12))])
    report = run(date(2018, 10, 12))  # the next run delivers what the outage held back
    glue_posts = [m for m in slack.messages_in(CHANNEL) if GLUE in m.text and m.thread_ts is None]
    assert len(glue_posts) == 1
    assert report["posted"] >= 1


def test_unparseable_event_is_rejected_loudly(env: MotoStandIn) -> None:
    from aws_lambda_powertools.utilities.parser import ValidationError

    with pytest.raises(ValidationError):
        spend_watch.handler({"time": "not a time"}, FakeLambdaContext("spend-watch"))


def test_follow_ups_only_in_threads_of_posted_alerts(env: MotoStandIn, slack: SlackStandIn) -> None:
    """Daily runs from the first day to past the Glue step: the alert is posted once, later notes are thread
    replies to it, and episodes that opened during the first run's silent replay get no stray notes."""
    rows = load_workshop()
    seed_ce(env.endpoint, [ce_response(rows, date(2018, 6, 6), date(2018, 10, 4))])
    run(date(2018, 10, 4))
    day = date(2018, 10, 5)
    while day <= date(2018, 11, 10):
        target = day - timedelta(days=1)
        responses = [ce_response(rows, target, day)]
        if target == date(2018, 10, 10):
            responses.append(usage_split(rows, GLUE, date(2018, 9, 26), date(2018, 10, 11), GLUE_SHARES))
        seed_ce(env.endpoint, responses)
        run(day)
        day += timedelta(days=1)
    messages = slack.messages_in(CHANNEL)
    roots = [m for m in messages if m.thread_ts is None]
    assert [GLUE in m.text for m in roots] == [True]
    replies = [m for m in messages if m.thread_ts is not None]
    assert all(m.thread_ts == roots[0].ts for m in replies)
