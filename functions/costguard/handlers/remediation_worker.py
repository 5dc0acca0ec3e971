"""Remediation worker: SQS (jobs from the interactivity endpoint) → claim, re-check, act, audit, tell Slack.

Thin. Partial batch failures (Powertools BatchProcessor): a failed job is retried alone and dead-letters after
the queue's maxReceiveCount. Each record is idempotent on its job id (Powertools Idempotency on the state
table), and each (finding, action) is claimed by a conditional write before any side effect (execute.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from costguard.approvals.settings import WorkerSettings
from costguard.handlers.tracing import traced

logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)

IDEMPOTENCY_PK = "IDEMPOTENCY#remediation-worker"


@cache
def _settings() -> WorkerSettings:
    return WorkerSettings.from_env()


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
@traced
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.idempotency import idempotent_function

    from costguard.adapters.aws import aws_client
    from costguard.adapters.idempotency import state_table_idempotency
    from costguard.adapters.slack_client import make_slack_client, secure_parameter
    from costguard.approvals.adapters import SlackMessages
    from costguard.approvals.execute import Worker
    from costguard.approvals.model import Job
    from costguard.approvals.store import DynamoApprovalStore
    from costguard.idle.inventory import ClientFactory

    settings = _settings()
    dynamodb = aws_client("dynamodb")
    worker = Worker(
        settings=settings,
        store=DynamoApprovalStore(client=dynamodb, table=settings.table),
        clients=ClientFactory(),
        messages=SlackMessages(
            make_slack_client(secure_parameter(settings.token_parameter), base_url=settings.slack_api_url)
        ),
    )
    persistence, config = state_table_idempotency(
        table=settings.table,
        client=dynamodb,
        partition=IDEMPOTENCY_PK,
        key="job_id",
        hours=settings.idempotency_hours,
        context=context,
    )

    def run(job: dict[str, Any]) -> dict[str, Any]:
        parsed = Job.model_validate(job)
        logger.append_keys(job_id=parsed.job_id, action=parsed.action, subject=parsed.subject, kind=parsed.kind)
        result = worker.run(parsed, datetime.now(UTC))
        logger.info("remediation job done", extra={"result": result.get("result")})
        metrics.add_metric(
            name=f"Remediation{str(result.get('result', 'done')).title().replace('-', '')}",
            unit=MetricUnit.Count,
            value=1,
        )
        return result

    once = idempotent_function(run, data_keyword_argument="job", persistence_store=persistence, config=config)

    def record_handler(record: SQSRecord) -> dict[str, Any]:
        job = Job.model_validate_json(record.body)  # a malformed message fails, is retried, dead-letters
        result: dict[str, Any] = once(job=job.model_dump(mode="json"))
        return result

    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
