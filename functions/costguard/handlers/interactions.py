"""Slack interactivity endpoint: a Lambda Function URL (auth NONE: Slack cannot sign SigV4, so Slack's own
request signature is the authentication) receiving `block_actions` when someone clicks an approval button.

Thin: the Powertools resolver routes, the raw body is recovered exactly as sent (base64-decoded when the
URL says so), and `Intake` validates, authorises, records and enqueues — all within Slack's 3 seconds.
The signing secret and bot token come from SSM SecureString parameters (cached 5 minutes, never logged);
payloads and response URLs are never logged.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from costguard.approvals.intake import Answer, Intake, Request
from costguard.approvals.settings import InteractionSettings
from costguard.handlers.tracing import traced

logger = Logger()
metrics = Metrics()
app = LambdaFunctionUrlResolver()

ROUTE = "/slack/actions"


@cache
def _settings() -> InteractionSettings:
    return InteractionSettings.from_env()


@cache
def _directory() -> Any:
    from costguard.adapters.slack_client import make_slack_client, secure_parameter
    from costguard.approvals.authz import GroupDirectory

    settings = _settings()
    # One retry at most: the endpoint has 3 seconds; the member list is then cached for 5 minutes.
    client = make_slack_client(
        secure_parameter(settings.token_parameter), base_url=settings.slack_api_url, max_retries=1
    )
    return GroupDirectory(client)


def _members(group: str) -> Collection[str]:
    members: Collection[str] = _directory()(group)
    return members


@cache  # clients are built once per container (and account), not per click
def _intake(account: str) -> Intake:
    from costguard.adapters.aws import aws_client
    from costguard.adapters.slack_client import secure_parameter
    from costguard.approvals.adapters import SqsQueue, WebhookResponder
    from costguard.approvals.store import DynamoApprovalStore

    settings = _settings()
    return Intake(
        settings=settings,
        secret=lambda: secure_parameter(settings.signing_secret_parameter),
        store=DynamoApprovalStore(client=aws_client("dynamodb", max_attempts=2), table=settings.table),
        queue=SqsQueue(client=aws_client("sqs", max_attempts=2), url=settings.queue_url),
        members=_members,
        responder=WebhookResponder(),
        account=account,
    )


def _raw_body(event: Any) -> bytes:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return b"\0invalid base64"  # fails the signature check like any altered body
    return str(body).encode("utf-8")


@app.post(ROUTE)
def slack_actions() -> Response[str]:
    event = app.current_event
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    request = Request(method="POST", headers=headers, body=_raw_body(event))
    account = app.lambda_context.invoked_function_arn.split(":")[4]
    answer: Answer = _intake(account).handle(request, datetime.now(UTC))
    outcome = answer.outcome.split(":", 1)[0]
    logger.info("slack interaction", extra={"status": answer.status, "outcome": answer.outcome})
    metrics.add_metric(name=f"Interactions{outcome.title()}", unit=MetricUnit.Count, value=1)
    return Response(status_code=answer.status, content_type="text/plain", body=answer.body)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True, correlation_id_path=correlation_paths.LAMBDA_FUNCTION_URL)
@traced
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
