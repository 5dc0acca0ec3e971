"""The guard watches itself: alarms on costguard's own functions and dead-letter queues, to an ops SNS topic.

Composed LAST in the stack: it discovers every Lambda function, every schedule and every dead-letter queue the
other capabilities created (so new capabilities are covered without edits here), and a synth-time check fails if
one is added after it.

Every CloudWatch alarm metric costs $0.10/month, and an alarm on metric math is billed for each metric in its
expression, so the default (`ops_alarms=lean`) watches for lost work with as few metrics as possible:

- one heartbeat per scheduled capability that reports success (`SpendWatchSucceeded`, `IdleSweepSucceeded`,
  namespace Costguard, dimension service=costguard): no success for `ops_heartbeat_hours` (26) hours, missing data
  breaching. Any failure of that function (error, timeout, throttling past the event age, a schedule that no
  longer reaches it: its schedule dead-letter queue) ends in a missed heartbeat, so those are not alarmed again;
- one alarm on the summed depth of every other dead-letter queue that no alarm watches yet (event-driven
  functions dead-letter what they could not do after retries);
- alarms other capabilities already own (the budget-alerts dead-letter alarm) get the ops topic as their action.

`ops_alarms=full` adds the sum of every function's Errors and Throttles, and every dead-letter queue's depth, as
metric-math alarms of at most ten metrics each (CloudWatch's limit per alarm): faster, but each metric is billed.
The ops topic mails `ops_email` when set; Slack is not used for ops alarms (the Slack path may be what broke).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import jsii
from aws_cdk import Acknowledgment, Duration, Stack, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct, IConstruct, IValidation

from infra.functions import METRICS_NAMESPACE, SERVICE_NAME
from infra.settings import Settings

# The success metric each scheduled handler emits at the end of a good run (see functions/costguard/handlers).
HEARTBEATS: dict[str, str] = {
    "costguard.handlers.spend_watch.handler": "SpendWatchSucceeded",
    "costguard.handlers.idle_sweep.handler": "IdleSweepSucceeded",
}
MAX_METRICS_PER_ALARM = 10  # PutMetricAlarm: at most 10 MetricStat queries in one alarm's metric math
PERIOD = Duration.minutes(5)


@dataclass(frozen=True)
class Watched:
    """What the construct found in the stack: functions, dead-letter queues and who covers what."""

    functions: tuple[lambda_.Function, ...]
    dead_letter_queues: tuple[sqs.IQueue, ...]
    scheduled: tuple[lambda_.Function, ...]  # functions a schedule rule invokes
    schedule_queues: dict[str, lambda_.Function]  # resolved queue ARN -> the function its schedule targets
    alarmed_queues: frozenset[str]  # resolved queue names an alarm (not ours) already watches
    foreign_alarms: tuple[cloudwatch.Alarm, ...]


def _key(stack: Stack, value: Any) -> str:
    return repr(stack.resolve(value))


def discover(stack: Stack, *, exclude: IConstruct | None = None) -> Watched:
    """Every function, dead-letter queue, schedule and alarm in the stack (outside `exclude`)."""
    nodes = [c for c in stack.node.find_all() if exclude is None or not _inside(c, exclude)]
    functions = tuple(c for c in nodes if isinstance(c, lambda_.Function))
    queues = {_key(stack, q.queue_arn): q for q in nodes if isinstance(q, sqs.Queue)}

    dlq_arns: list[str] = []
    for fn in functions:
        if fn.dead_letter_queue is not None:
            dlq_arns.append(_key(stack, fn.dead_letter_queue.queue_arn))
    for q in queues.values():
        if isinstance(q, sqs.Queue) and q.dead_letter_queue is not None:
            dlq_arns.append(_key(stack, q.dead_letter_queue.queue.queue_arn))

    by_arn = {_key(stack, fn.function_arn): fn for fn in functions}
    scheduled: list[lambda_.Function] = []
    schedule_queues: dict[str, lambda_.Function] = {}
    for rule in (c for c in nodes if isinstance(c, events.Rule)):
        cfn = rule.node.default_child
        assert isinstance(cfn, events.CfnRule)
        is_schedule = stack.resolve(cfn.schedule_expression) is not None
        for target in stack.resolve(cfn.targets) or []:
            target_fn = by_arn.get(repr(target.get("arn")))
            dlq = (target.get("deadLetterConfig") or {}).get("arn")
            if dlq is not None:
                dlq_arns.append(repr(dlq))
            if target_fn is not None and is_schedule:
                if target_fn not in scheduled:
                    scheduled.append(target_fn)
                if dlq is not None:
                    schedule_queues[repr(dlq)] = target_fn

    alarmed: set[str] = set()
    foreign: list[cloudwatch.Alarm] = []
    for alarm in (c for c in nodes if isinstance(c, cloudwatch.Alarm)):
        foreign.append(alarm)
        metric = alarm.metric
        if isinstance(metric, cloudwatch.Metric) and metric.namespace == "AWS/SQS" and metric.dimensions:
            name = metric.dimensions.get("QueueName")
            if name is not None:
                alarmed.add(_key(stack, name))

    dead_letter_queues = tuple(queues[a] for a in dict.fromkeys(dlq_arns) if a in queues)
    return Watched(
        functions=functions,
        dead_letter_queues=dead_letter_queues,
        scheduled=tuple(scheduled),
        schedule_queues=schedule_queues,
        alarmed_queues=frozenset(alarmed),
        foreign_alarms=tuple(foreign),
    )


def _inside(node: IConstruct, scope: IConstruct) -> bool:
    return node.node.path == scope.node.path or node.node.path.startswith(scope.node.path + "/")


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Monitoring(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.settings = settings
        self.watched = discover(stack, exclude=self)
        self.alarms: list[cloudwatch.Alarm] = []

        # --- the ops topic -----------------------------------------------------------------------------------
        self.topic = sns.Topic(self, "OpsTopic", display_name="costguard ops alarms", enforce_ssl=True)
        # CloudWatch alarms publish as the service; only alarms of this account and region may.
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudwatchAlarmsToPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{stack.partition}:cloudwatch:{stack.region}:{stack.account}:alarm:*"
                    },
                },
            )
        )
        Validations.of(self.topic).acknowledge(
            Acknowledgment(
                id="AwsSolutions-SNS2",
                reason="Cost: CloudWatch alarms can only publish to an encrypted topic through a customer-managed "
                "KMS key ($1/month, the whole tool's budget); the topic carries alarm state changes only (no "
                "payloads, no secrets) and its policy denies publishing without TLS.",
            )
        )
        if settings.ops_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(settings.ops_email))
        self.action = cloudwatch_actions.SnsAction(self.topic)

        # --- heartbeats ----------------------------------------------------------------------------------------
        watched = self.watched
        heartbeat_functions = [fn for fn in watched.scheduled if _handler(fn) in HEARTBEATS]
        for fn in heartbeat_functions:
            self._heartbeat(fn)

        # --- dead-letter queues ------------------------------------------------------------------------------
        covered = {_key(stack, q.queue_arn) for q in watched.dead_letter_queues if self._watched_elsewhere(q)}
        if settings.ops_alarms == "lean":
            covered |= {arn for arn, fn in watched.schedule_queues.items() if fn in heartbeat_functions}
        queues = [q for q in watched.dead_letter_queues if _key(stack, q.queue_arn) not in covered]
        for n, chunk in enumerate(_chunks(queues, MAX_METRICS_PER_ALARM)):
            self._sum_alarm(
                f"DeadLetters{n or ''}",
                {
                    f"q{i}": q.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum")
                    for i, q in enumerate(chunk)
                },
                "costguard: work waits in a dead-letter queue (failed after retries). Look at the queues "
                "(outputs *DeadLetterQueueUrl), fix the cause, then redrive them.",
            )

        # --- every function's errors and throttles (full) -------------------------------------------------
        if settings.ops_alarms == "full":
            metrics: list[cloudwatch.IMetric] = []
            for fn in watched.functions:
                metrics.append(fn.metric_errors(period=PERIOD, statistic="Sum"))
                metrics.append(fn.metric_throttles(period=PERIOD, statistic="Sum"))
            for n, chunk in enumerate(_chunks(metrics, MAX_METRICS_PER_ALARM)):
                self._sum_alarm(
                    f"FunctionFailures{n or ''}",
                    {f"m{i}": m for i, m in enumerate(chunk)},
                    "costguard: a function failed or was throttled (AWS/Lambda Errors + Throttles, summed over "
                    "the functions of this stack). Its log group says why.",
                )

        # --- alarms other capabilities own -------------------------------------------------------------------
        for alarm in watched.foreign_alarms:
            cfn = alarm.node.default_child
            assert isinstance(cfn, cloudwatch.CfnAlarm)
            if not stack.resolve(cfn.alarm_actions):
                alarm.add_alarm_action(self.action)

        self.node.add_validation(_NothingAddedAfter(self))

    # -----------------------------------------------------------------------------------------------------------

    @property
    def alarm_metric_count(self) -> int:
        """CloudWatch bills $0.10/month per metric an alarm evaluates (metric math: each metric in it)."""
        stack = Stack.of(self)
        count = 0
        for alarm in self.alarms:
            cfn = alarm.node.default_child
            assert isinstance(cfn, cloudwatch.CfnAlarm)
            queries = stack.resolve(cfn.metrics) or []
            count += sum(1 for q in queries if "metricStat" in q) or 1
        return count

    def _watched_elsewhere(self, queue: sqs.IQueue) -> bool:
        return _key(Stack.of(self), queue.queue_name) in self.watched.alarmed_queues

    def _heartbeat(self, fn: lambda_.Function) -> None:
        name = HEARTBEATS[_handler(fn)]
        hours = self.settings.ops_heartbeat_hours
        capability = name.removesuffix("Succeeded")
        alarm = cloudwatch.Alarm(
            self,
            f"{capability}Heartbeat",
            alarm_description=f"costguard: no successful {capability} run in {hours} hours ({name} missing). "
            "The function erred, timed out or was not invoked: see its log group and its schedule's "
            "dead-letter queue.",
            metric=cloudwatch.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name=name,
                dimensions_map={"service": SERVICE_NAME},
                statistic="Sum",
                period=Duration.hours(1),
            ),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=hours,
            datapoints_to_alarm=hours,
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
        )
        self._notify(alarm)

    def _sum_alarm(self, construct_id: str, metrics: dict[str, cloudwatch.IMetric], description: str) -> None:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            alarm_description=description,
            metric=cloudwatch.MathExpression(
                expression=f"SUM([{', '.join(metrics)}])", using_metrics=metrics, period=PERIOD
            ),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self._notify(alarm)

    def _notify(self, alarm: cloudwatch.Alarm) -> None:
        alarm.add_alarm_action(self.action)
        alarm.add_ok_action(self.action)
        self.alarms.append(alarm)


def _handler(fn: lambda_.Function) -> str:
    cfn = fn.node.default_child
    assert isinstance(cfn, lambda_.CfnFunction)
    return str(cfn.handler)


@jsii.implements(IValidation)
class _NothingAddedAfter:
    """Synth-time check: every function and dead-letter queue in the stack was there when Monitoring looked."""

    def __init__(self, monitoring: Monitoring) -> None:
        self.monitoring = monitoring

    def validate(self) -> list[str]:
        stack = Stack.of(self.monitoring)
        now = discover(stack, exclude=self.monitoring)
        before = self.monitoring.watched
        missed = [fn.node.path for fn in now.functions if fn not in before.functions] + [
            q.node.path for q in now.dead_letter_queues if q not in before.dead_letter_queues
        ]
        if not missed:
            return []
        return [
            "costguard: Monitoring must be composed after every capability (infra/stack.py); it does not watch "
            + ", ".join(missed)
        ]
