"""The Costguard stack: composes the state table and the capabilities; nothing else lives here."""

from __future__ import annotations

from typing import Any

from aws_cdk import Annotations, CfnOutput, Stack, Tags
from constructs import Construct

from infra.constructs.approvals import Approvals
from infra.constructs.budget_alerts import BudgetAlerts
from infra.constructs.idle_sweep import IdleSweep
from infra.constructs.monitoring import Monitoring
from infra.constructs.spend_watch import SpendWatch
from infra.constructs.state import StateTable
from infra.settings import Settings

STACK_NAME = "Costguard"


class CostguardStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, **kwargs: Any) -> None:
        super().__init__(
            scope,
            construct_id,
            description="costguard: serverless AWS cost guard (spend watch, budget alerts, idle sweep)",
            **kwargs,
        )
        self.settings = settings

        self.state = StateTable(self, "State")
        self.spend_watch = SpendWatch(self, "SpendWatch", settings=settings, table=self.state.table)
        self.budget_alerts = (
            BudgetAlerts(self, "BudgetAlerts", settings=settings, table=self.state.table)
            if settings.budget_alerts
            else None
        )
        self.idle_sweep = (
            IdleSweep(self, "IdleSweep", settings=settings, table=self.state.table) if settings.idle_sweep else None
        )
        self.approvals = (
            Approvals(self, "Approvals", settings=settings, table=self.state.table) if settings.approvals else None
        )
        if self.approvals is not None:
            self.spend_watch.function.add_environment("APPROVAL_BUTTONS", "true")  # Acknowledge / Mute
        if self.approvals is not None and self.idle_sweep is not None:
            self.idle_sweep.function.add_environment("APPROVAL_BUTTONS", "true")
            if settings.approvals_auto_remediate_days:
                self.approvals.allow_grace_period(self.idle_sweep.handler, settings.approvals_auto_remediate_days)
        # Last: it discovers and watches every function and dead-letter queue composed above.
        self.monitoring = Monitoring(self, "Monitoring", settings=settings) if settings.ops_alarms != "off" else None

        Tags.of(self).add("app", "costguard")

        if settings.uses_placeholder_channel:
            Annotations.of(self).add_warning_v2(
                "costguard:placeholder-slack-channel",
                "context 'slack_channel_id' is the placeholder; set it before deploying "
                "(cdk deploy -c slack_channel_id=C0123456789, or in cdk.json)",
            )

        CfnOutput(self, "StateTableName", value=self.state.table.table_name)
        CfnOutput(self, "SpendWatchFunctionName", value=self.spend_watch.function.function_name)
        CfnOutput(self, "SpendWatchDeadLetterQueueUrl", value=self.spend_watch.dead_letter_queue.queue_url)
        if self.budget_alerts is not None:
            CfnOutput(
                self,
                "BudgetAlertsTopicArn",
                value=self.budget_alerts.topic.topic_arn,
                description="Point existing budgets, billing alarms and anomaly subscriptions here",
            )
            CfnOutput(self, "BudgetAlertsFunctionName", value=self.budget_alerts.function.function_name)
            CfnOutput(self, "BudgetAlertsDeadLetterQueueUrl", value=self.budget_alerts.dead_letter_queue.queue_url)
        if self.idle_sweep is not None:
            CfnOutput(self, "IdleSweepFunctionName", value=self.idle_sweep.function.function_name)
            CfnOutput(self, "IdleSweepDeadLetterQueueUrl", value=self.idle_sweep.dead_letter_queue.queue_url)
        if self.approvals is not None:
            CfnOutput(
                self,
                "SlackInteractivityUrl",
                value=self.approvals.interactivity_url,
                description="Slack app > Interactivity & Shortcuts > Request URL",
            )
            CfnOutput(self, "ApprovalsDeadLetterQueueUrl", value=self.approvals.dead_letter_queue.queue_url)
        if self.monitoring is not None:
            CfnOutput(
                self,
                "OpsTopicArn",
                value=self.monitoring.topic.topic_arn,
                description="costguard's own alarms publish here: subscribe email, chat or paging",
            )
