"""Budget alerts: AWS Budgets, billing alarms and Cost Anomaly Detection → one Lambda → enriched Slack alerts.

Owns the SNS topic that budgets, billing alarms and anomaly subscriptions publish to (TLS only; encrypted with its
own KMS key, whose policy lets those services use it, only with budget_topic_encryption=true, as the key costs
$1/month), the monthly budget declared from context (when `budget_monthly_usd` is set), the EventBridge rule for
"Anomaly Detected" events, the function (via the factory) with its least-privilege grants, and the function's
dead-letter queue with an alarm on it.

Regions: billing metrics (and so billing alarms) exist only in us-east-1, and CloudWatch alarms can only notify
topics in their own region; Cost Anomaly Detection emits its EventBridge events in us-east-1. Budgets and anomaly
subscriptions publish to a topic in any region.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_budgets as budgets
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra.functions import CostguardFunction, dead_letter_queue_for, grant_cost_explorer_read, grant_secure_parameters
from infra.settings import Settings

HANDLER = "costguard.handlers.budget_alerts.handler"
ANOMALY_PATTERN = {"source": ["aws.ce"], "detail_type": ["Anomaly Detected"]}
# Lambda retries a failed asynchronous invocation twice, for up to this long, then dead-letters it.
ASYNC_RETRIES = 2
MAX_EVENT_AGE = Duration.hours(6)


class BudgetAlerts(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        table: dynamodb.ITable,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)

        # --- the topic -------------------------------------------------------------------------------------
        publishers = self._publishers(stack)
        self.key: kms.Key | None = None
        if settings.budget_topic_encryption:
            self.key = kms.Key(
                self,
                "TopicKey",
                description="costguard: encrypts the budget-alerts topic",
                enable_key_rotation=True,
                # It protects notifications in transit through SNS only; nothing stays encrypted under it.
                removal_policy=RemovalPolicy.DESTROY,
                pending_window=Duration.days(7),
            )
            for service, conditions in publishers.items():
                self.key.add_to_resource_policy(
                    iam.PolicyStatement(
                        sid=f"Allow{service.split('.')[0].title()}ToUseTheKey",
                        principals=[iam.ServicePrincipal(service)],
                        actions=["kms:GenerateDataKey*", "kms:Decrypt"],
                        resources=["*"],  # in a key policy, "*" is this key
                        conditions=conditions,
                    )
                )
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name="costguard budget alerts",
            master_key=self.key,
            enforce_ssl=True,
        )
        for service, conditions in publishers.items():
            self.topic.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=f"Allow{service.split('.')[0].title()}ToPublish",
                    principals=[iam.ServicePrincipal(service)],
                    actions=["sns:Publish"],
                    resources=[self.topic.topic_arn],
                    conditions=conditions,
                )
            )
        if not settings.budget_topic_encryption:
            Validations.of(self.topic).acknowledge(
                Acknowledgment(
                    id="AwsSolutions-SNS2",
                    reason="Cost: encrypting the topic needs a customer-managed KMS key (AWS-managed keys cannot "
                    "grant Budgets, Cost Anomaly Detection or CloudWatch), which costs $1/month, while the whole "
                    "tool must run for under $1/month. The topic carries budget and anomaly notifications only and "
                    "its policy denies publishing without TLS; budget_topic_encryption=true adds the key.",
                )
            )

        # --- the budget --------------------------------------------------------------------------------------
        self.budget: budgets.CfnBudget | None = None
        if settings.budget_monthly_usd is not None:
            self.budget = self._budget(settings, self.topic)
            # Budgets checks it may publish when the notification is created: the topic policy goes first.
            policy = self.topic.node.try_find_child("Policy")
            if policy is not None:
                self.budget.node.add_dependency(policy)
            if self.key is not None:
                self.budget.node.add_dependency(self.key)

        # --- the function ------------------------------------------------------------------------------------
        self.dead_letter_queue = dead_letter_queue_for(
            self,
            "DeadLetterQueue",
            "of the budget-alerts function's asynchronous invocations and of the anomaly rule's target.",
        )
        self.handler = CostguardFunction(
            self,
            "Handler",
            settings=settings,
            handler=HANDLER,
            description="Budget, billing-alarm and cost-anomaly notifications -> enriched Slack alerts",
            environment={
                "COSTGUARD_TABLE": table.table_name,
                "SLACK_CHANNEL": settings.slack_channel_id,
                "SLACK_TOKEN_PARAMETER": settings.slack_token_parameter,
                # The spend watch's cost scope: the alerts read (and extend) the same cost history.
                "COST_METRIC": settings.cost_metric,
                "GROUP_BY": settings.group_by,
                "EXCLUDE_RECORD_TYPES": ",".join(settings.exclude_record_types),
                "HISTORY_DAYS": str(settings.history_days),
            },
            timeout=Duration.minutes(2),
            dead_letter_queue=self.dead_letter_queue,
        )
        self.function = self.handler.function
        self.function.configure_async_invoke(retry_attempts=ASYNC_RETRIES, max_event_age=MAX_EVENT_AGE)
        self._grant(settings, table, stack)

        # --- what invokes it ---------------------------------------------------------------------------------
        self.topic.add_subscription(subscriptions.LambdaSubscription(self.function))
        self.anomaly_rule = events.Rule(
            self,
            "AnomalyRule",
            description="costguard: Cost Anomaly Detection 'Anomaly Detected' events to the budget-alerts function",
            event_pattern=events.EventPattern(
                source=ANOMALY_PATTERN["source"], detail_type=ANOMALY_PATTERN["detail_type"]
            ),
            targets=[
                targets.LambdaFunction(
                    self.function,
                    retry_attempts=4,
                    max_event_age=MAX_EVENT_AGE,
                    dead_letter_queue=self.dead_letter_queue,
                )
            ],
        )

        # --- watching the watcher ----------------------------------------------------------------------------
        self.dead_letter_alarm = cloudwatch.Alarm(
            self,
            "DeadLetterAlarm",
            alarm_description="costguard: a budget, billing or anomaly notification could not be posted to Slack "
            "after retries; it waits in the budget-alerts dead-letter queue (redrive it once Slack is back).",
            metric=self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5), statistic="Maximum"
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

    @staticmethod
    def _publishers(stack: Stack) -> dict[str, dict[str, Any]]:
        """The services that publish cost notifications, each only on behalf of this account."""
        account = {"aws:SourceAccount": stack.account}

        def arn(service: str, region: str, resource: str) -> str:
            return f"arn:{stack.partition}:{service}:{region}:{stack.account}:{resource}"

        return {
            "budgets.amazonaws.com": {
                "StringEquals": account,
                "ArnLike": {"aws:SourceArn": arn("budgets", "", "*")},
            },
            "costalerts.amazonaws.com": {
                "StringEquals": account,
                "ArnLike": {"aws:SourceArn": arn("ce", "", "anomalysubscription/*")},
            },
            # Billing alarms (CloudWatch can only notify a topic in its own region).
            "cloudwatch.amazonaws.com": {
                "StringEquals": account,
                "ArnLike": {"aws:SourceArn": arn("cloudwatch", stack.region, "alarm:*")},
            },
        }

    def _budget(self, settings: Settings, topic: sns.ITopic) -> budgets.CfnBudget:
        assert settings.budget_monthly_usd is not None
        excluded = set(settings.exclude_record_types)
        subscriber = [budgets.CfnBudget.SubscriberProperty(address=topic.topic_arn, subscription_type="SNS")]

        def notification(kind: str, threshold: float) -> budgets.CfnBudget.NotificationWithSubscribersProperty:
            return budgets.CfnBudget.NotificationWithSubscribersProperty(
                notification=budgets.CfnBudget.NotificationProperty(
                    notification_type=kind,
                    comparison_operator="GREATER_THAN",
                    threshold=threshold,
                    threshold_type="PERCENTAGE",
                ),
                subscribers=subscriber,
            )

        notifications = [notification("ACTUAL", t) for t in settings.budget_actual_thresholds]
        if settings.budget_forecast_threshold is not None:
            notifications.append(notification("FORECASTED", settings.budget_forecast_threshold))
        return budgets.CfnBudget(
            self,
            "Budget",
            budget=budgets.CfnBudget.BudgetDataProperty(
                budget_type="COST",
                time_unit="MONTHLY",
                budget_name=settings.budget_name or None,
                budget_limit=budgets.CfnBudget.SpendProperty(amount=settings.budget_monthly_usd, unit="USD"),
                cost_filters={k: list(v) for k, v in settings.budget_cost_filters} or None,
                # The same costs the spend watch reads, so "left in budget" and month-to-date agree.
                cost_types=budgets.CfnBudget.CostTypesProperty(
                    include_credit="Credit" not in excluded,
                    include_refund="Refund" not in excluded,
                    include_tax="Tax" not in excluded,
                    include_support="Support" not in excluded,
                    use_amortized=settings.cost_metric == "AmortizedCost",
                ),
            ),
            notifications_with_subscribers=notifications,
        )

    def _grant(self, settings: Settings, table: dynamodb.ITable, stack: Stack) -> None:
        role = self.handler.role
        # The cost history (shared with the spend watch) and the idempotency records.
        table.grant_read_write_data(role)

        cost_explorer = grant_cost_explorer_read(self, role)
        slack_token = grant_secure_parameters(self, "SlackTokenRead", role, [settings.slack_token_parameter])
        for policy in (cost_explorer, slack_token):
            self.function.node.add_dependency(policy)
