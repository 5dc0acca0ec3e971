"""Daily spend watch: once a day, read Cost Explorer, detect what changed, tell Slack.

Owns the function (via the factory), its least-privilege grants, the EventBridge schedule and the
schedule's dead-letter queue. The SSM SecureString holding the Slack bot token is NOT created here:
CloudFormation cannot create SecureStrings, so the operator puts it (`aws ssm put-parameter
--type SecureString`) and the stack only references it by name.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.functions import CostguardFunction, grant_secure_parameters
from infra.settings import Settings

HANDLER = "costguard.handlers.spend_watch.handler"


class SpendWatch(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        table: dynamodb.ITable,
    ) -> None:
        super().__init__(scope, construct_id)

        self.handler = CostguardFunction(
            self,
            "Handler",
            settings=settings,
            handler=HANDLER,
            description="Daily spend watch: Cost Explorer -> change detection -> Slack",
            environment={
                "COSTGUARD_TABLE": table.table_name,
                "SLACK_CHANNEL": settings.slack_channel_id,
                "SLACK_TOKEN_PARAMETER": settings.slack_token_parameter,
                "COST_METRIC": settings.cost_metric,
                "GROUP_BY": settings.group_by,
                "MIN_IMPACT_USD": _number(settings.min_impact_usd),
                "MIN_IMPACT_PCT": _number(settings.min_impact_pct),
                "EXCLUDE_RECORD_TYPES": ",".join(settings.exclude_record_types),
                "HISTORY_DAYS": str(settings.history_days),
            },
        )
        self.function = self.handler.function
        role = self.handler.role

        table.grant_read_write_data(role)

        # Cost Explorer has no resource-level permissions: its own policy, so the acknowledgement of
        # the `*` resource below covers this statement and nothing that is added to the role later.
        cost_explorer = iam.Policy(
            self,
            "CostExplorerRead",
            roles=[role],
            statements=[iam.PolicyStatement(actions=["ce:GetCostAndUsage"], resources=["*"])],
        )
        Validations.of(cost_explorer).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="ce:GetCostAndUsage supports no resource ARNs or conditions; '*' is the only resource "
                "(https://docs.aws.amazon.com/service-authorization/latest/reference/"
                "list_awscostexplorerservice.html).",
            )
        )

        slack_token = grant_secure_parameters(self, "SlackTokenRead", role, [settings.slack_token_parameter])
        for policy in (cost_explorer, slack_token):
            self.function.node.add_dependency(policy)

        # The schedule's delivery failures (throttling, missing permission) land here after retries.
        self.dead_letter_queue = sqs.Queue(
            self,
            "ScheduleDeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        Validations.of(self.dead_letter_queue).acknowledge(
            Acknowledgment(
                id="AwsSolutions-SQS3",
                reason="This queue is itself the dead-letter queue of the schedule's EventBridge target.",
            )
        )

        self.rule = events.Rule(
            self,
            "Schedule",
            description="costguard daily spend watch",
            schedule=events.Schedule.expression(settings.spend_watch_schedule),
            targets=[
                targets.LambdaFunction(
                    self.function,
                    retry_attempts=4,
                    max_event_age=Duration.hours(6),
                    dead_letter_queue=self.dead_letter_queue,
                )
            ],
        )


def _number(value: float | None) -> str:
    """Empty means "the detector's default"; whole numbers without a trailing .0."""
    if value is None:
        return ""
    return str(int(value)) if value.is_integer() else repr(value)
