"""Daily idle sweep: EventBridge schedule → scan regions → tag → state table → Slack digest. Thin."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from costguard.approvals.settings import GraceSettings, buttons_enabled
from costguard.handlers.tracing import traced
from costguard.idle.settings import IdleSweepSettings

logger = Logger()
metrics = Metrics()


@cache
def _settings() -> IdleSweepSettings:
    return IdleSweepSettings.from_env()


@cache
def _grace() -> GraceSettings:
    return GraceSettings.from_env()


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
@traced
@event_parser(model=EventBridgeModel)
def handler(event: EventBridgeModel, context: LambdaContext) -> dict[str, Any]:
    from costguard.adapters.aws import aws_client
    from costguard.adapters.slack_client import make_slack_client, secure_parameter
    from costguard.adapters.slack_notifier import SlackNotifier
    from costguard.idle.inventory import ClientFactory
    from costguard.idle.rules import build_rules
    from costguard.idle.scan import account_id, enabled_regions
    from costguard.idle.service import digest_messages, post_digest, sweep
    from costguard.idle.store import DynamoIdleStore

    settings = _settings()
    home = event.region
    clients = ClientFactory()
    rules = build_rules(settings.rules or None, settings.thresholds)
    account = account_id(clients, home)
    regions = list(settings.regions) or enabled_regions(clients, home)
    store = DynamoIdleStore(client=aws_client("dynamodb"), table=settings.table)
    logger.append_keys(schedule_time=event.time.isoformat(), regions=len(regions))

    _, decision, report = sweep(
        event.time,
        clients=clients,
        rules=rules,
        regions=regions,
        account=account,
        store=store,
        excluded_accounts=settings.excluded_accounts,
        apply_tags=settings.apply_tags,
    )
    for region, why in report.skipped.items():
        logger.warning("region skipped", extra={"region": region, "reason": why})
    buttons = None
    grace = _grace()
    if buttons_enabled():  # approvals deployed: buttons per finding; snoozed findings stay out of the digest
        from costguard.approvals.buttons import finding_buttons
        from costguard.approvals.store import DynamoApprovalStore

        snoozed = DynamoApprovalStore(client=aws_client("dynamodb"), table=settings.table).snoozed(
            account, event.time.isoformat()
        )
        decision.findings = [f for f in decision.findings if f.id not in snoozed]
        buttons = finding_buttons
    messages = digest_messages(decision, event.time, skipped=report.skipped, dry_run=report.dry_run, actions=buttons)
    if messages:
        notifier = SlackNotifier(
            make_slack_client(secure_parameter(settings.token_parameter), base_url=settings.slack_api_url)
        )
        report.posted = post_digest(
            messages, store=store, notifier=notifier, channel=settings.channel, account=account, now=event.time
        )
        if buttons is not None and grace.days:  # the opt-in grace period: announce, then queue remediation
            from costguard.approvals.adapters import SlackMessages, SqsQueue
            from costguard.approvals.grace import digest_threads, run_grace

            threads = digest_threads(messages, store.posted_messages(account, event.time.date().isoformat()))
            graced = run_grace(
                event.time,
                days=grace.days,
                findings=decision.findings,
                first_seen=decision.first_seen,
                threads=threads,
                store=DynamoApprovalStore(client=aws_client("dynamodb"), table=settings.table),
                queue=SqsQueue(client=aws_client("sqs"), url=grace.queue_url),
                replier=SlackMessages(notifier.client),
                account=account,
                channel=settings.channel,
                two_person=grace.two_person,
            )
            metrics.add_metric(name="GraceAnnounced", unit=MetricUnit.Count, value=graced.announced)
            metrics.add_metric(name="GraceRemediationsQueued", unit=MetricUnit.Count, value=graced.queued)
    metrics.add_metric(name="IdleFindings", unit=MetricUnit.Count, value=report.findings)
    metrics.add_metric(name="IdleMonthlyUSD", unit=MetricUnit.NoUnit, value=round(report.monthly_idle, 2))
    metrics.add_metric(name="IdleRegionsSkipped", unit=MetricUnit.Count, value=len(report.skipped))
    metrics.add_metric(name="IdleSweepSucceeded", unit=MetricUnit.Count, value=1)
    logger.info("idle sweep done", extra={k: v for k, v in report.as_dict().items() if k != "skipped"})
    return report.as_dict()
