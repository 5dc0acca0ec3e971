"""The ONE Lambda factory: every costguard function gets its defaults here.

Python 3.12 on arm64, the shared asset (infra/bundling.py), its own role with no managed policies,
its own log group with the configured retention (the role may write only there), Powertools
environment defaults, and X-Ray only when context `tracing` is on. Capabilities add their own
environment and grant their own permissions on `.role` / `.function`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from aws_cdk import Acknowledgment, ArnFormat, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.bundling import ARCHITECTURE, RUNTIME, lambda_code
from infra.settings import Settings

SERVICE_NAME = "costguard"
METRICS_NAMESPACE = "Costguard"


def powertools_environment(settings: Settings) -> dict[str, str]:
    return {
        "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
        "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "POWERTOOLS_TRACER_DISABLED": "false" if settings.tracing else "true",
    }


class CostguardFunction(Construct):
    """A Lambda function with its role and log group; `handler` is `costguard.handlers.<module>.handler`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        handler: str,
        description: str,
        environment: Mapping[str, str],
        memory_size: int = 256,
        timeout: Duration | None = None,
        dead_letter_queue: sqs.IQueue | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if not handler.startswith("costguard.handlers."):
            raise ValueError(f"costguard: handler must live in costguard.handlers (got {handler!r})")

        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"costguard: {description}",
        )
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=settings.log_retention,
            # The state table is the record; logs age out anyway, so they go with the stack.
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.log_group.grant_write(self.role)

        self.function = lambda_.Function(
            self,
            "Function",
            description=description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=handler,
            code=lambda_code(settings.bundling),
            role=self.role,
            log_group=self.log_group,
            memory_size=memory_size,
            timeout=timeout or Duration.minutes(5),
            tracing=lambda_.Tracing.ACTIVE if settings.tracing else lambda_.Tracing.DISABLED,
            environment={**powertools_environment(settings), **environment},
            # Asynchronous invocations (SNS, EventBridge) that still fail after Lambda's retries land here.
            dead_letter_queue=dead_letter_queue,
        )

        # CDK always adds DependsOn for the role next to the GetAtt on it; cfn-lint warns that is redundant.
        cfn_function = cast(lambda_.CfnFunction, self.function.node.default_child)
        cfn_function.add_metadata("cfn-lint", {"config": {"ignore_checks": ["W3005"]}})

        Validations.of(self.function).acknowledge(
            Acknowledgment(
                id="AwsSolutions-L1",
                reason="The runtime contract pins Python 3.12: the asset's wheels are built for cp312 "
                "(infra/bundling.py); move runtime and wheels together, deliberately.",
            )
        )
        if settings.tracing:
            Validations.of(self.role).acknowledge(
                Acknowledgment(
                    id="AwsSolutions-IAM5[Resource::*]",
                    reason="X-Ray PutTraceSegments/PutTelemetryRecords have no resource-level permissions.",
                )
            )


def parameter_arn(scope: Construct, name: str) -> str:
    """ARN of an SSM parameter by name: `/a/b` and `a` become `parameter/a/b` and `parameter/a`."""
    return Stack.of(scope).format_arn(
        service="ssm",
        resource="parameter",
        resource_name=name.lstrip("/"),
        arn_format=ArnFormat.SLASH_RESOURCE_NAME,
    )


def grant_secure_parameters(scope: Construct, construct_id: str, role: iam.IRole, names: list[str]) -> iam.Policy:
    """Read these SSM SecureStrings (the Slack token, the signing secret): ssm:GetParameter on exactly them, and
    kms:Decrypt of the aws/ssm key only through SSM and only for them. The key's id differs per account, so the
    resource is any key in this account and region (acknowledged for cdk-nag with that reason)."""
    stack = Stack.of(scope)
    arns = [parameter_arn(scope, n) for n in dict.fromkeys(names)]
    context: dict[str, object] = {"kms:ViaService": f"ssm.{stack.region}.amazonaws.com"}
    conditions: dict[str, object] = {"StringEquals": context}
    if len(arns) == 1:
        context["kms:EncryptionContext:PARAMETER_ARN"] = arns[0]
    else:
        conditions["ForAnyValue:StringEquals"] = {"kms:EncryptionContext:PARAMETER_ARN": arns}
    policy = iam.Policy(
        scope,
        construct_id,
        roles=[role],
        statements=[
            iam.PolicyStatement(actions=["ssm:GetParameter"], resources=arns),
            iam.PolicyStatement(
                actions=["kms:Decrypt"],
                resources=[
                    stack.format_arn(
                        service="kms", resource="key", resource_name="*", arn_format=ArnFormat.SLASH_RESOURCE_NAME
                    )
                ],
                conditions=conditions,
            ),
        ],
    )
    target = "the token parameter" if len(arns) == 1 else "the Slack parameters"
    Validations.of(policy).acknowledge(
        Acknowledgment(
            id="AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:key/*]",
            reason="The aws/ssm key id is per account and unknown at synth (no lookups); kms:Decrypt "
            f"is limited by kms:ViaService=ssm and kms:EncryptionContext:PARAMETER_ARN to {target}.",
        )
    )
    return policy


def grant_cost_explorer_read(scope: Construct, role: iam.IRole) -> iam.Policy:
    """ce:GetCostAndUsage in a policy of its own: Cost Explorer has no resource-level permissions, so the
    acknowledgement of its `*` resource covers this statement and nothing added to the role later."""
    policy = iam.Policy(
        scope,
        "CostExplorerRead",
        roles=[role],
        statements=[iam.PolicyStatement(actions=["ce:GetCostAndUsage"], resources=["*"])],
    )
    Validations.of(policy).acknowledge(
        Acknowledgment(
            id="AwsSolutions-IAM5[Resource::*]",
            reason="ce:GetCostAndUsage supports no resource ARNs or conditions; '*' is the only resource "
            "(https://docs.aws.amazon.com/service-authorization/latest/reference/"
            "list_awscostexplorerservice.html).",
        )
    )
    return policy


def dead_letter_queue_for(scope: Construct, construct_id: str, of_what: str) -> sqs.Queue:
    """An encrypted, TLS-only queue kept 14 days, where failures land. It needs no dead-letter queue of its
    own (cdk-nag SQS3): the acknowledgement says whose dead-letter queue it is."""
    queue = sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=Duration.days(14),
    )
    Validations.of(queue).acknowledge(
        Acknowledgment(id="AwsSolutions-SQS3", reason=f"This queue is itself the dead-letter queue {of_what}")
    )
    return queue


def daily_schedule(
    scope: Construct,
    function: lambda_.IFunction,
    *,
    expression: str,
    description: str,
    retry_attempts: int,
) -> tuple[events.Rule, sqs.Queue]:
    """An EventBridge schedule invoking `function`, with retries and a dead-letter queue for deliveries that
    still fail (throttling, a missing permission)."""
    dead_letter_queue = dead_letter_queue_for(scope, "ScheduleDeadLetterQueue", "of the schedule's EventBridge target.")
    rule = events.Rule(
        scope,
        "Schedule",
        description=description,
        schedule=events.Schedule.expression(expression),
        targets=[
            targets.LambdaFunction(
                function,
                retry_attempts=retry_attempts,
                max_event_age=Duration.hours(6),
                dead_letter_queue=dead_letter_queue,
            )
        ],
    )
    return rule, dead_letter_queue
