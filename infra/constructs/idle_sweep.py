"""Daily idle sweep: once a day, scan the account's regions for idle resources, tag them, post a digest.

Owns the function (via the factory), its grants, the schedule and the schedule's dead-letter queue.
The read permissions are derived from the rule registry (each rule declares what its calls need); the
tagging permissions cover only the resource types the enabled rules report and only costguard's own
tag keys (aws:TagKeys), and exist only when tags are applied (context idle_apply_tags).
"""

from __future__ import annotations

import json

from aws_cdk import Acknowledgment, ArnFormat, Duration, Stack, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct
from costguard.idle.model import FINDING_TAGS
from costguard.idle.rules import TAG_PERMISSIONS, build_rules, required_permissions

from infra.functions import CostguardFunction, daily_schedule, grant_secure_parameters
from infra.settings import Settings

HANDLER = "costguard.handlers.idle_sweep.handler"

# Where each taggable resource type lives in IAM (service, resource type); ids are not known at synth.
TAGGED_ARNS: dict[str, tuple[str, str]] = {
    "ec2:instance": ("ec2", "instance"),
    "ec2:volume": ("ec2", "volume"),
    "ec2:snapshot": ("ec2", "snapshot"),
    "ec2:elastic-ip": ("ec2", "elastic-ip"),
    "ec2:natgateway": ("ec2", "natgateway"),
    "elasticloadbalancing:loadbalancer": ("elasticloadbalancing", "loadbalancer"),
    "elasticloadbalancing:classic": ("elasticloadbalancing", "loadbalancer"),
    "rds:db": ("rds", "db"),
}


class IdleSweep(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, table: dynamodb.ITable) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        rules = build_rules(settings.idle_rules or None, json.loads(settings.idle_thresholds))

        self.handler = CostguardFunction(
            self,
            "Handler",
            settings=settings,
            handler=HANDLER,
            description="Daily idle sweep: describe + CloudWatch -> idle findings -> tags, state, Slack digest",
            memory_size=512,
            timeout=Duration.minutes(10),
            environment={
                "COSTGUARD_TABLE": table.table_name,
                "SLACK_CHANNEL": settings.slack_channel_id,
                "SLACK_TOKEN_PARAMETER": settings.slack_token_parameter,
                "IDLE_REGIONS": ",".join(settings.idle_regions),
                "IDLE_RULES": ",".join(settings.idle_rules),
                "IDLE_THRESHOLDS": settings.idle_thresholds,
                "EXCLUDED_ACCOUNTS": ",".join(settings.idle_excluded_accounts),
                "APPLY_TAGS": "true" if settings.idle_apply_tags else "false",
            },
        )
        self.function = self.handler.function
        role = self.handler.role
        table.grant_read_write_data(role)

        # Describe* and GetMetricData support no resource-level permissions: their own policy, so the
        # acknowledgement of '*' covers these statements and nothing added to the role later.
        read_actions = required_permissions(rules, tagging=False)
        self.read_actions = read_actions
        read = iam.Policy(
            self,
            "DescribeAndMetrics",
            roles=[role],
            statements=[iam.PolicyStatement(actions=read_actions, resources=["*"])],
        )
        Validations.of(read).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="The Describe* list calls (EC2, ELB, RDS) and cloudwatch:GetMetricData support no resource "
                "ARNs: '*' is the only resource (Service Authorization Reference). The actions are exactly "
                "those the enabled rules declare in the rule registry.",
            )
        )
        policies: list[iam.Policy] = [read]

        if settings.idle_apply_tags:
            tag_condition = {"ForAllValues:StringEquals": {"aws:TagKeys": list(FINDING_TAGS)}}
            statements: dict[tuple[str, ...], list[str]] = {}
            nag_ids: set[str] = set()
            for rule in rules:
                service, kind = TAGGED_ARNS[rule.resource_type]
                arn = stack.format_arn(
                    service=service,
                    region="*",
                    resource=kind,
                    resource_name="*",
                    arn_format=ArnFormat.COLON_RESOURCE_NAME if service == "rds" else ArnFormat.SLASH_RESOURCE_NAME,
                )
                actions = TAG_PERMISSIONS[rule.resource_type]
                if arn not in statements.setdefault(actions, []):
                    statements[actions].append(arn)
                    sep = ":" if service == "rds" else "/"
                    nag_ids.add(f"arn:<AWS::Partition>:{service}:*:<AWS::AccountId>:{kind}{sep}*")
            tagging = iam.Policy(
                self,
                "Tagging",
                roles=[role],
                statements=[
                    iam.PolicyStatement(actions=list(actions), resources=sorted(arns), conditions=tag_condition)
                    for actions, arns in sorted(statements.items())
                ],
            )
            for nag_id in sorted(nag_ids):
                Validations.of(tagging).acknowledge(
                    Acknowledgment(
                        id=f"AwsSolutions-IAM5[Resource::{nag_id}]",
                        reason="The sweep tags whichever resources it finds idle, in any region it scans: "
                        "ids and regions are unknown at synth. Limited to this account, to the resource "
                        "types the enabled rules report, and by aws:TagKeys to costguard's own three tag keys.",
                    )
                )
            policies.append(tagging)

        slack_token = grant_secure_parameters(self, "SlackTokenRead", role, [settings.slack_token_parameter])
        policies.append(slack_token)
        for policy in policies:
            self.function.node.add_dependency(policy)

        self.rule, self.dead_letter_queue = daily_schedule(
            self,
            self.function,
            expression=settings.idle_sweep_schedule,
            description="costguard daily idle sweep",
            retry_attempts=2,
        )
