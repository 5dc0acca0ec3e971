"""Daily spend watch: EventBridge schedule → Cost Explorer → detector → Slack. Thin: parse, wire, delegate."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from costguard.handlers.tracing import traced
from costguard.settings import SpendWatchSettings

logger = Logger()
metrics = Metrics()


@cache
def _settings() -> SpendWatchSettings:
    return SpendWatchSettings.from_env()


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
@traced
@event_parser(model=EventBridgeModel)
def handler(event: EventBridgeModel, context: LambdaContext) -> dict[str, Any]:
    from costguard.adapters.aws import aws_client
    from costguard.adapters.cost_explorer import CostExplorer
    from costguard.adapters.slack_client import make_slack_client, secure_parameter
    from costguard.adapters.slack_notifier import SlackNotifier
    from costguard.adapters.state_store import DynamoSpendStore
    from costguard.approvals.settings import buttons_enabled
    from costguard.spend.service import run_spend_watch

    settings = _settings()
    # Cost Explorer's endpoint lives in us-east-1 whatever region the stack runs in.
    ce = CostExplorer(
        client=aws_client("ce", region="us-east-1"),
        metric=settings.metric,
        group_by=settings.group_by,
        exclude_record_types=settings.exclude_record_types,
    )
    store = DynamoSpendStore(client=aws_client("dynamodb"), table=settings.table)
    notifier = SlackNotifier(
        make_slack_client(secure_parameter(settings.token_parameter), base_url=settings.slack_api_url)
    )
    logger.append_keys(schedule_time=event.time.isoformat())
    buttons = None
    if buttons_enabled():  # approvals deployed: Acknowledge and Mute on every new alert
        from costguard.approvals.spend import alert_buttons

        buttons = alert_buttons
    try:
        report = run_spend_watch(event.time, settings=settings, ce=ce, store=store, notifier=notifier, buttons=buttons)
    finally:
        # Requests are billed even when the run fails afterwards.
        metrics.add_metric(name="CostExplorerRequests", unit=MetricUnit.Count, value=ce.requests)
    metrics.add_metric(name="SpendAlerts", unit=MetricUnit.Count, value=sum(e.action == "open" for e in report.events))
    metrics.add_metric(name="SlackMessagesPosted", unit=MetricUnit.Count, value=report.posted)
    metrics.add_metric(name="SpendEventsMuted", unit=MetricUnit.Count, value=report.muted)
    metrics.add_metric(name="SpendWatchSucceeded", unit=MetricUnit.Count, value=1)
    logger.info("spend watch done", extra={k: v for k, v in report.as_dict().items() if k != "events"})
    return report.as_dict()
