"""Budget, billing-alarm and cost-anomaly notifications (SNS topic, EventBridge anomaly rule) → enriched Slack
alerts. Thin: parse, wire, delegate. Each delivery posts once (Powertools Idempotency on the state table, keyed
on the SNS MessageId / EventBridge id); a failure raises, so Lambda retries and then dead-letters it."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from costguard.budgets.model import BudgetAlertsEvent, CostNotice, notices
from costguard.budgets.settings import BudgetAlertsSettings
from costguard.handlers.tracing import traced

logger = Logger()
metrics = Metrics()

IDEMPOTENCY_PK = "IDEMPOTENCY#budget-alerts"


@cache
def _settings() -> BudgetAlertsSettings:
    return BudgetAlertsSettings.from_env()


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
@traced
@event_parser(model=BudgetAlertsEvent)
def handler(event: BudgetAlertsEvent, context: LambdaContext) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.idempotency import idempotent_function

    from costguard.adapters.aws import aws_client
    from costguard.adapters.cost_explorer import CostExplorer
    from costguard.adapters.idempotency import state_table_idempotency
    from costguard.adapters.slack_client import make_slack_client, secure_parameter
    from costguard.adapters.slack_notifier import SlackNotifier
    from costguard.adapters.state_store import DynamoSpendStore
    from costguard.budgets.service import deliver_notice

    settings = _settings()
    received = notices(event)
    # Cost Explorer's endpoint lives in us-east-1 whatever region the stack runs in.
    ce = CostExplorer(
        client=aws_client("ce", region="us-east-1"),
        metric=settings.spend.metric,
        group_by=settings.spend.group_by,
        exclude_record_types=settings.spend.exclude_record_types,
    )
    dynamodb = aws_client("dynamodb")
    store = DynamoSpendStore(client=dynamodb, table=settings.table)
    notifier = SlackNotifier(
        make_slack_client(secure_parameter(settings.spend.token_parameter), base_url=settings.spend.slack_api_url)
    )
    persistence, config = state_table_idempotency(
        table=settings.table,
        client=dynamodb,
        partition=IDEMPOTENCY_PK,
        key="delivery_id",
        hours=settings.idempotency_hours,
        context=context,
    )

    posted: list[dict[str, Any]] = []  # this invocation's posts; a redelivery replays the stored result instead

    def post(notice: CostNotice) -> dict[str, Any]:
        result = deliver_notice(notice, settings=settings, ce=ce, store=store, notifier=notifier)
        posted.append(result)
        return result

    deliver: Callable[..., dict[str, Any]] = idempotent_function(
        post, data_keyword_argument="notice", persistence_store=persistence, config=config
    )

    results = []
    try:
        for notice in received:
            logger.append_keys(delivery_id=notice.delivery_id, via=notice.via, kind=notice.detail.kind)
            results.append(deliver(notice=notice))
    finally:
        # Requests are billed even when the run fails afterwards.
        metrics.add_metric(name="CostExplorerRequests", unit=MetricUnit.Count, value=ce.requests)
    for r in posted:
        logger.info("cost notice posted", extra={k: v for k, v in r.items() if k not in ("channel", "ts")})
        metrics.add_metric(name="CostNoticesPosted", unit=MetricUnit.Count, value=1)
        if r["kind"] == "unparsed":
            metrics.add_metric(name="UnparsedCostNotices", unit=MetricUnit.Count, value=1)
        if r["enrichment_error"]:
            metrics.add_metric(name="CostNoticeEnrichmentFailed", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="CostNoticeRedeliveries", unit=MetricUnit.Count, value=len(results) - len(posted))
    return {"notices": results, "posted": len(posted)}
