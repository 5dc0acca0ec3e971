"""The approvals story on the real protocols: moto's server, the Slack stand-in (which signs block_actions
like Slack), the interactivity handler behind a local Function URL, and the worker fed by the SQS stand-in."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from costguard.approvals.model import action_id
from costguard.approvals.store import DynamoApprovalStore
from costguard.handlers import idle_sweep, interactions, remediation_worker, spend_watch
from costguard.idle.model import finding_id
from costguard_local.idle_seed import ACCOUNT, IdleSeeder
from costguard_local.lambda_runtime import FakeLambdaContext, scheduled_event
from costguard_local.standins.aws import MotoStandIn, create_state_table
from costguard_local.standins.function_url import FunctionUrlServer
from costguard_local.standins.slack import SlackMessage, SlackStandIn
from costguard_local.standins.sqs_worker import SqsWorker

from tests.conftest import CHANNEL, SLACK_TOKEN

NOW = datetime(2024, 5, 1, 6, 0, tzinfo=UTC)
REGION = "us-east-1"
TABLE = "costguard-state"
APPROVER, SECOND, STRANGER, OPS = "U0APPROVER", "U0SECOND", "U0STRANGER", "U0OPS"
GROUP = "S0OPSTEAM"


@dataclass
class World:
    moto: MotoStandIn
    slack: SlackStandIn
    url: str
    queue_url: str
    worker: SqsWorker
    ids: dict[str, str]

    @property
    def ec2(self) -> Any:
        return self.moto.client("ec2", REGION)

    @property
    def store(self) -> DynamoApprovalStore:
        return DynamoApprovalStore(self.moto.client("dynamodb"), TABLE)

    def sweep(self) -> dict[str, Any]:
        report: dict[str, Any] = idle_sweep.handler(
            scheduled_event(NOW, rule="costguard-idle-sweep"), FakeLambdaContext("idle-sweep")
        )
        return report

    def fid(self, rule: str, label: str) -> str:
        return finding_id(ACCOUNT, REGION, rule, self.ids[label])

    def message_for(self, fid: str) -> SlackMessage:
        [m] = [m for m in self.slack.messages_in(CHANNEL) if not m.thread_ts and fid in json.dumps(m.blocks)]
        return m

    def payload(self, action: str, fid: str, user: str = APPROVER) -> dict[str, Any]:
        return self.slack.build_block_actions_payload(self.message_for(fid), action_id(action, fid), user_id=user)

    def click(self, action: str, fid: str, user: str = APPROVER, **kw: Any) -> tuple[int, str]:
        return self.slack.send_interaction(self.url, self.payload(action, fid, user), **kw)

    def post(self, headers: dict[str, str], body: str) -> int:
        request = urllib.request.Request(self.url, data=body.encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as e:
            return int(e.code)

    def queued(self) -> int:
        attrs = self.moto.client("sqs", REGION).get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])

    def volume(self, label: str = "loose-volume") -> dict[str, Any] | None:
        try:
            [v] = self.ec2.describe_volumes(VolumeIds=[self.ids[label]])["Volumes"]
        except Exception as error:
            if "NotFound" in str(error):
                return None
            raise
        return dict(v)

    def backups(self, fid: str) -> list[dict[str, Any]]:
        filters = [{"Name": "tag:costguard:remediation", "Values": [fid]}]
        return list(self.ec2.describe_snapshots(OwnerIds=["self"], Filters=filters)["Snapshots"])

    def updates(self) -> int:
        return len(self.slack.calls_to("chat.update"))


def configure(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    idle_sweep._settings.cache_clear()
    idle_sweep._grace.cache_clear()
    spend_watch._settings.cache_clear()
    interactions._settings.cache_clear()
    interactions._directory.cache_clear()
    interactions._intake.cache_clear()
    remediation_worker._settings.cache_clear()


@pytest.fixture
def world(moto: MotoStandIn, slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    create_state_table(moto.client("dynamodb"), TABLE)
    ssm = moto.client("ssm")
    ssm.put_parameter(Name="/costguard/slack/bot-token", Value=SLACK_TOKEN, Type="SecureString", Overwrite=True)
    ssm.put_parameter(
        Name="/costguard/slack/signing-secret", Value=slack.signing_secret, Type="SecureString", Overwrite=True
    )
    sqs = moto.client("sqs", REGION)
    queue_url = sqs.create_queue(QueueName="costguard-approvals")["QueueUrl"]
    slack.usergroups.clear()
    slack.usergroups[GROUP] = [OPS]
    configure(
        monkeypatch,
        COSTGUARD_TABLE=TABLE,
        SLACK_CHANNEL=CHANNEL,
        SLACK_API_URL=slack.base_url,
        IDLE_REGIONS=REGION,
        IDLE_RULES="ebs-unattached,eip-unassociated,ebs-snapshot-old",
        APPLY_TAGS="true",
        APPROVAL_BUTTONS="true",
        APPROVALS_QUEUE_URL=queue_url,
        APPROVERS=json.dumps({"*": [APPROVER, SECOND]}),
        APPROVER_GROUPS=GROUP,
        TWO_PERSON_ACTIONS="release-eip",
        SLACK_RESPONSE_URL_PREFIX=slack.url,
        DRY_RUN="false",
        WAITER_DELAY_SECONDS="1",
        WAITER_MAX_ATTEMPTS="5",
    )
    seeder = IdleSeeder(moto.endpoint, NOW)
    ids = {
        "loose-volume": seeder.volume(REGION, age_days=30, tags={"Name": "scratch"}),
        "loose-eip": seeder.address(REGION),
    }
    worker = SqsWorker(sqs, queue_url, remediation_worker.handler)
    with FunctionUrlServer(interactions.handler) as server:
        yield World(moto, slack, server.url + "slack/actions", queue_url, worker, ids)
