"""Approvals: Slack buttons → a Function URL (auth NONE; Slack's request signature is the authentication,
checked in the handler) → an encrypted SQS queue → the remediation worker (SQS event source, partial batch
failures) → a dead-letter queue with an alarm on its depth.

The worker's role is built from the action registry (costguard/approvals/actions.py): every destructive
call is allowed only on resources carrying costguard's finding tag (aws:ResourceTag/costguard:finding), so it
cannot touch anything the sweep did not flag. Backups it takes are tagged at creation (TagSpecifications /
Tags) and CreateSnapshot on the new snapshot is allowed only with that request tag (aws:RequestTag), tagging a
snapshot only as part of creating it (ec2:CreateAction).
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any, cast

from aws_cdk import Acknowledgment, ArnFormat, Duration, Fn, Stack, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from costguard.approvals.actions import ANY, RDS_SNAPSHOT, TAG_REMEDIATION, required_permissions
from costguard.idle.model import TAG_FINDING

from infra.functions import CostguardFunction, dead_letter_queue_for, grant_secure_parameters
from infra.settings import Settings

INTERACTIONS_HANDLER = "costguard.handlers.interactions.handler"
WORKER_HANDLER = "costguard.handlers.remediation_worker.handler"
ROUTE = "slack/actions"
WORKER_TIMEOUT = Duration.minutes(5)
MAX_RECEIVE_COUNT = 5
AUTH_NONE_REASON = (
    "NONE on purpose: Slack cannot sign requests with AWS SigV4. Every request is authenticated by Slack's "
    "HMAC-SHA256 request signature over the raw body (signing secret in SSM), checked in constant time with a "
    "5-minute window and a replay guard before anything else runs; unsigned requests get 401 and cause nothing."
)

# IAM resource ARNs per resource type (service, resource, separator, account in the ARN?).
ARNS: dict[str, tuple[str, str, str, bool]] = {
    "ec2:instance": ("ec2", "instance", "/", True),
    "ec2:volume": ("ec2", "volume", "/", True),
    "ec2:snapshot": ("ec2", "snapshot", "/", False),  # EC2 snapshot ARNs carry no account id
    "ec2:elastic-ip": ("ec2", "elastic-ip", "/", True),
    "ec2:natgateway": ("ec2", "natgateway", "/", True),
    "elasticloadbalancing:loadbalancer": ("elasticloadbalancing", "loadbalancer", "/", True),
    "rds:db": ("rds", "db", ":", True),
    RDS_SNAPSHOT: ("rds", "snapshot", ":", True),
}
CONDITIONS: dict[str, dict[str, Any]] = {
    "finding-tag": {"Null": {f"aws:ResourceTag/{TAG_FINDING}": "false"}},
    "request-tag": {"Null": {f"aws:RequestTag/{TAG_REMEDIATION}": "false"}},
    "create-action": {"StringEquals": {"ec2:CreateAction": "CreateSnapshot"}},
}


def nag_resource(kind: str) -> str:
    service, resource, sep, with_account = ARNS[kind]
    account = "<AWS::AccountId>" if with_account else ""
    return f"arn:<AWS::Partition>:{service}:*:{account}:{resource}{sep}*"


class Approvals(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, table: dynamodb.ITable) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)

        # -- the queue, its dead-letter queue and the alarm on it ----------------------------------------
        self.dead_letter_queue = dead_letter_queue_for(
            self,
            "DeadLetterQueue",
            "of the approvals queue (remediation jobs the worker failed five times).",
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            # AWS: at least six times the function timeout, so a batch in flight is not redelivered meanwhile.
            visibility_timeout=Duration.minutes(30),
            retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letter_queue, max_receive_count=MAX_RECEIVE_COUNT),
        )
        self.dead_letter_alarm = cloudwatch.Alarm(
            self,
            "DeadLetterAlarm",
            alarm_description="costguard approvals: remediation jobs failed after retries (see the audit rows)",
            metric=self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5), statistic="Maximum"
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

        self.two_person_actions = settings.two_person_actions
        approver_env = {
            "APPROVERS": settings.approvers,
            "APPROVER_GROUPS": ",".join(settings.approver_groups),
            "TWO_PERSON_ACTIONS": ",".join(settings.two_person_actions),
        }
        common = {
            "COSTGUARD_TABLE": table.table_name,
            "SLACK_CHANNEL": settings.slack_channel_id,
            "SLACK_TOKEN_PARAMETER": settings.slack_token_parameter,
            "DRY_RUN": "true" if settings.approvals_dry_run else "false",
        }

        # -- the interactivity endpoint ----------------------------------------------------------------
        self.interactions = CostguardFunction(
            self,
            "Interactions",
            settings=settings,
            handler=INTERACTIONS_HANDLER,
            description="Slack interactivity endpoint: verify signature, authorise, record, enqueue (< 3 s)",
            memory_size=512,  # a faster cold start: Slack gives up after 3 seconds
            timeout=Duration.seconds(10),
            environment={
                **common,
                **approver_env,
                "APPROVALS_QUEUE_URL": self.queue.queue_url,
                "SLACK_SIGNING_SECRET_PARAMETER": settings.slack_signing_secret_parameter,
                "SLACK_TEAM_ID": settings.slack_team_id,
            },
        )
        self.url = self.interactions.function.add_function_url(auth_type=lambda_.FunctionUrlAuthType.NONE)
        # cdk-nag's AwsSolutions pack has no rule on Function URL auth, so there is no finding to acknowledge;
        # the reason is recorded on the resource for reviewers (and asserted by tests/infra).
        cast(lambda_.CfnUrl, self.url.node.default_child).add_metadata("costguard", {"AuthType": AUTH_NONE_REASON})
        table.grant_read_write_data(self.interactions.role)
        self.queue.grant_send_messages(self.interactions.role)
        self._parameters(
            "InteractionsParameters",
            self.interactions,
            [settings.slack_signing_secret_parameter, settings.slack_token_parameter],
        )

        # -- the worker ----------------------------------------------------------------------------------
        self.worker = CostguardFunction(
            self,
            "Worker",
            settings=settings,
            handler=WORKER_HANDLER,
            description="Remediation worker: claim, re-check, act (or dry-run), audit, update Slack",
            timeout=WORKER_TIMEOUT,
            environment={
                **common,
                "SNOOZE_DAYS": str(settings.approvals_snooze_days),
                "MUTE_DAYS": str(settings.approvals_mute_days),
            },
        )
        table.grant_read_write_data(self.worker.role)
        self.worker.function.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=5,
                report_batch_item_failures=True,
                max_concurrency=2,  # digest updates are read-modify-write of one message: keep writers few
            )
        )
        self._parameters("WorkerParameters", self.worker, [settings.slack_token_parameter])
        self._remediation_policies(stack)

    def _parameters(self, construct_id: str, fn: CostguardFunction, names: list[str]) -> None:
        policy = grant_secure_parameters(self, construct_id, fn.role, names)
        fn.function.node.add_dependency(policy)

    def _remediation_policies(self, stack: Stack) -> None:
        grants = required_permissions()
        read = sorted({a for g in grants if g.resource == ANY for a in g.actions})
        self.read_actions = read
        describe = iam.Policy(
            self,
            "WorkerDescribe",
            roles=[self.worker.role],
            statements=[iam.PolicyStatement(actions=read, resources=["*"])],
        )
        Validations.of(describe).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="The execution-time re-check describes the resource (EC2, ELB, RDS Describe* calls), and "
                "these support no resource ARNs: '*' is the only resource. Read-only; the actions are those the "
                "action registry declares.",
            )
        )
        grouped: dict[tuple[tuple[str, ...], str], set[str]] = defaultdict(set)
        kinds: set[str] = set()
        for g in grants:
            if g.resource == ANY:
                continue
            conditions = dict(CONDITIONS[g.condition])
            if g.tag_keys:
                conditions["ForAllValues:StringEquals"] = {"aws:TagKeys": list(g.tag_keys)}
            grouped[(g.actions, json.dumps(conditions, sort_keys=True))].add(g.resource)
            kinds.add(g.resource)
        statements = [
            iam.PolicyStatement(
                actions=list(actions),
                resources=[self._arn(stack, kind) for kind in sorted(resources)],
                conditions=json.loads(conditions),
            )
            for (actions, conditions), resources in sorted(grouped.items())
        ]
        self.remediation = iam.Policy(self, "WorkerRemediation", roles=[self.worker.role], statements=statements)
        for kind in sorted(kinds):
            Validations.of(self.remediation).acknowledge(
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[Resource::{nag_resource(kind)}]",
                    reason="Findings name resources in any region the sweep scans, unknown at synth. Every statement "
                    "is conditioned: destructive calls only on resources tagged costguard:finding "
                    "(aws:ResourceTag), new backups only with the costguard:remediation request tag, tagging only "
                    "costguard's own keys or at snapshot creation.",
                )
            )
        self.worker.function.node.add_dependency(describe)
        self.worker.function.node.add_dependency(self.remediation)

    @staticmethod
    def _arn(stack: Stack, kind: str) -> str:
        service, resource, sep, with_account = ARNS[kind]
        return stack.format_arn(
            service=service,
            region="*",
            account=None if with_account else "",
            resource=resource,
            resource_name="*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME if sep == ":" else ArnFormat.SLASH_RESOURCE_NAME,
        )

    def allow_grace_period(self, sweep: CostguardFunction, days: int) -> None:
        """The idle sweep queues grace-period remediations: SendMessage on this queue only (SQS-managed
        encryption: no KMS grant needed)."""
        sweep.function.add_environment("AUTO_REMEDIATE_DAYS", str(days))
        sweep.function.add_environment("APPROVALS_QUEUE_URL", self.queue.queue_url)
        sweep.function.add_environment("TWO_PERSON_ACTIONS", ",".join(self.two_person_actions))
        sweep.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[self.queue.queue_arn])
        )

    @property
    def interactivity_url(self) -> str:
        return Fn.join("", [self.url.url, ROUTE])
