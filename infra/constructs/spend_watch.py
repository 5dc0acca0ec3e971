"""Daily spend watch: once a day, read Cost Explorer, detect what changed, tell Slack.

Owns the function (via the factory), its least-privilege grants, the EventBridge schedule and the
schedule's dead-letter queue. The SSM SecureString holding the Slack bot token is NOT created here:
CloudFormation cannot create SecureStrings, so the operator puts it (`aws ssm put-parameter
--type SecureString`) and the stack only references it by name.
"""

from __future__ import annotations

from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from infra.functions import CostguardFunction, daily_schedule, grant_cost_explorer_read, grant_secure_parameters
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

        cost_explorer = grant_cost_explorer_read(self, role)

        slack_token = grant_secure_parameters(self, "SlackTokenRead", role, [settings.slack_token_parameter])
        for policy in (cost_explorer, slack_token):
            self.function.node.add_dependency(policy)

        self.rule, self.dead_letter_queue = daily_schedule(
            self,
            self.function,
            expression=settings.spend_watch_schedule,
            description="costguard daily spend watch",
            retry_attempts=4,
        )


def _number(value: float | None) -> str:
    """Empty means "the detector's default"; whole numbers without a trailing .0."""
    if value is None:
        return ""
    return str(int(value)) if value.is_integer() else repr(value)
