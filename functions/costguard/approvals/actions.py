"""The action registry. Each action declares which findings offer it, whether it is destructive, the IAM
permissions it needs (the worker's role is built from these) and its preconditions in words; at execution
it re-describes the resource (`observe`), re-checks the preconditions on what it saw (`check`, pure), and
only then acts (`run`) — or, in a dry run, says what it would have done (`plan`).

Every action refuses a resource that no longer carries costguard's finding tag for the same rule, or that
carries `costguard:keep`: the same line the worker's IAM policy draws with `aws:ResourceTag/costguard:finding`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

from costguard.idle import tagging
from costguard.idle.core import TagChange
from costguard.idle.inventory import ClientFactory
from costguard.idle.model import (
    CLASSIC_ELB,
    EBS_SNAPSHOT,
    EBS_VOLUME,
    EC2_INSTANCE,
    ELASTIC_IP,
    LOAD_BALANCER,
    NAT_GATEWAY,
    RDS_INSTANCE,
    TAG_FINDING,
    TAG_KEEP,
    TAG_STATUS,
    Resource,
)

# Tags costguard puts on what it creates while remediating (not the sweep's finding tags, which it prunes).
TAG_REMEDIATION = "costguard:remediation"  # the finding id a backup was taken for
TAG_SOURCE = "costguard:source"  # the volume or DB instance it was taken of
TAG_APPROVED_BY = "costguard:approved-by"
REMEDIATION_TAGS = (TAG_REMEDIATION, TAG_SOURCE, TAG_APPROVED_BY)

Condition = Literal["finding-tag", "request-tag", "create-action", "none"]
RDS_SNAPSHOT = "rds:snapshot"
ANY = "*"


@dataclass(frozen=True)
class Grant:
    """IAM actions on one resource type, under a condition:
    finding-tag: aws:ResourceTag/costguard:finding must be present (costguard flagged it);
    request-tag: the request must tag the new resource with costguard:remediation (aws:RequestTag);
    create-action: tagging only as part of creating a snapshot (ec2:CreateAction);
    none: read-only calls with no resource-level permissions (resource '*')."""

    actions: tuple[str, ...]
    resource: str
    condition: Condition = "finding-tag"
    tag_keys: tuple[str, ...] = ()  # tagging grants: only these keys (aws:TagKeys)


@dataclass(frozen=True)
class FindingRef:
    """A finding as the state table holds it: the only source of what an approval may touch."""

    id: str
    rule: str
    resource_type: str
    resource_id: str
    region: str
    account: str
    name: str = ""
    reason: str = ""
    monthly_cost: float | None = None
    status: str = "open"
    first_seen: str = ""
    last_seen: str = ""

    @classmethod
    def from_record(cls, finding_id: str, r: Mapping[str, Any]) -> FindingRef:
        return cls(
            id=finding_id,
            rule=str(r["rule"]),
            resource_type=str(r["resource_type"]),
            resource_id=str(r["resource_id"]),
            region=str(r["region"]),
            account=str(r["account"]),
            name=str(r.get("name") or ""),
            reason=str(r.get("reason") or ""),
            monthly_cost=r.get("monthly_cost"),
            status=str(r.get("status") or "open"),
            first_seen=str(r.get("first_seen") or ""),
            last_seen=str(r.get("last_seen") or ""),
        )

    @property
    def label(self) -> str:
        if self.name and self.resource_id.startswith("arn:"):
            return self.name
        return self.resource_id + (f" ({self.name})" if self.name and self.name != self.resource_id else "")

    def resource(self) -> Resource:
        return Resource(type=self.resource_type, id=self.resource_id, region=self.region, account=self.account)


@dataclass(frozen=True)
class Observed:
    """The resource as described at execution time."""

    exists: bool
    tags: Mapping[str, str] = field(default_factory=dict)
    attrs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    ok: bool
    reason: str
    evidence: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class RunContext:
    now: datetime
    approvers: tuple[str, ...]
    checkpoint: dict[str, str] = field(default_factory=dict)  # survives a retry (kept in the claim)
    save: Callable[[str, str], None] = lambda key, value: None
    snooze: Callable[[datetime], None] = lambda until: None
    snooze_days: int = 7
    waiter_delay: int = 15
    waiter_attempts: int = 16

    def remember(self, key: str, value: str) -> None:
        self.checkpoint[key] = value
        self.save(key, value)


class ActionError(RuntimeError):
    """The action was started and AWS refused or failed it; the worker retries the message."""


_NOT_FOUND = (
    "InvalidVolume.NotFound",
    "InvalidInstanceID.NotFound",
    "InvalidSnapshot.NotFound",
    "InvalidAllocationID.NotFound",
    "NatGatewayNotFound",
    "InvalidNatGatewayID.NotFound",
    "LoadBalancerNotFound",
    "AccessPointNotFound",
    "DBInstanceNotFound",
    "DBInstanceNotFoundFault",
)


def _gone(error: Exception) -> bool:
    code = getattr(error, "response", {}).get("Error", {}).get("Code", "")
    return code in _NOT_FOUND


def _tags(items: Sequence[Mapping[str, Any]] | None) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in items or ()}


def _tag_grants(keys: tuple[str, ...]) -> tuple[Grant, ...]:
    return (
        *(
            Grant(("ec2:CreateTags",), kind, tag_keys=keys)
            for kind in (EC2_INSTANCE, EBS_VOLUME, EBS_SNAPSHOT, ELASTIC_IP, NAT_GATEWAY)
        ),
        Grant(("elasticloadbalancing:AddTags",), LOAD_BALANCER, tag_keys=keys),
        Grant(("rds:AddTagsToResource",), RDS_INSTANCE, tag_keys=keys),
    )


DESCRIBE: Mapping[str, tuple[str, ...]] = {
    EC2_INSTANCE: ("ec2:DescribeInstances",),
    EBS_VOLUME: ("ec2:DescribeVolumes",),
    EBS_SNAPSHOT: ("ec2:DescribeSnapshots", "ec2:DescribeImages"),
    ELASTIC_IP: ("ec2:DescribeAddresses",),
    NAT_GATEWAY: ("ec2:DescribeNatGateways",),
    LOAD_BALANCER: ("elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeTags"),
    CLASSIC_ELB: ("elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeTags"),
    RDS_INSTANCE: ("rds:DescribeDBInstances",),
}


def observe(clients: ClientFactory, f: FindingRef) -> Observed:
    """Describe the finding's resource now; `exists=False` when AWS says it is gone."""
    try:
        return _OBSERVERS[f.resource_type](clients, f)
    except Exception as error:
        if _gone(error):
            return Observed(False)
        raise


def _instance(clients: ClientFactory, f: FindingRef) -> Observed:
    found = [
        i
        for r in clients("ec2", f.region).describe_instances(InstanceIds=[f.resource_id])["Reservations"]
        for i in r["Instances"]
    ]
    if not found or found[0]["State"]["Name"] in ("terminated", "shutting-down"):
        return Observed(False)
    i = found[0]
    return Observed(True, _tags(i.get("Tags")), {"state": i["State"]["Name"]})


def _volume(clients: ClientFactory, f: FindingRef) -> Observed:
    [v] = clients("ec2", f.region).describe_volumes(VolumeIds=[f.resource_id])["Volumes"]
    attached = [a["InstanceId"] for a in v.get("Attachments", []) if a.get("InstanceId")]
    return Observed(True, _tags(v.get("Tags")), {"state": v["State"], "attached_to": attached, "size": v.get("Size")})


def _snapshot(clients: ClientFactory, f: FindingRef) -> Observed:
    ec2 = clients("ec2", f.region)
    [s] = ec2.describe_snapshots(SnapshotIds=[f.resource_id])["Snapshots"]
    images = ec2.describe_images(
        Owners=["self"], Filters=[{"Name": "block-device-mapping.snapshot-id", "Values": [f.resource_id]}]
    )["Images"]
    return Observed(True, _tags(s.get("Tags")), {"state": s["State"], "image_ids": [i["ImageId"] for i in images]})


def _address(clients: ClientFactory, f: FindingRef) -> Observed:
    [a] = clients("ec2", f.region).describe_addresses(AllocationIds=[f.resource_id])["Addresses"]
    return Observed(True, _tags(a.get("Tags")), {"association_id": a.get("AssociationId"), "ip": a.get("PublicIp")})


def _nat(clients: ClientFactory, f: FindingRef) -> Observed:
    found = clients("ec2", f.region).describe_nat_gateways(NatGatewayIds=[f.resource_id])["NatGateways"]
    if not found or found[0]["State"] in ("deleting", "deleted"):
        return Observed(False)
    return Observed(True, _tags(found[0].get("Tags")), {"state": found[0]["State"]})


def _load_balancer(clients: ClientFactory, f: FindingRef) -> Observed:
    elbv2 = clients("elbv2", f.region)
    [lb] = elbv2.describe_load_balancers(LoadBalancerArns=[f.resource_id])["LoadBalancers"]
    [described] = elbv2.describe_tags(ResourceArns=[f.resource_id])["TagDescriptions"]
    return Observed(True, _tags(described.get("Tags")), {"state": lb.get("State", {}).get("Code")})


def _classic(clients: ClientFactory, f: FindingRef) -> Observed:
    elb = clients("elb", f.region)
    [lb] = elb.describe_load_balancers(LoadBalancerNames=[f.resource_id])["LoadBalancerDescriptions"]
    [described] = elb.describe_tags(LoadBalancerNames=[f.resource_id])["TagDescriptions"]
    return Observed(True, _tags(described.get("Tags")), {"instances": len(lb.get("Instances", []))})


def _db(clients: ClientFactory, f: FindingRef) -> Observed:
    [db] = clients("rds", f.region).describe_db_instances(DBInstanceIdentifier=f.name or f.resource_id)["DBInstances"]
    if db["DBInstanceStatus"] in ("deleting",):
        return Observed(False)
    return Observed(
        True, _tags(db.get("TagList")), {"state": db["DBInstanceStatus"], "name": db["DBInstanceIdentifier"]}
    )


_OBSERVERS: Mapping[str, Callable[[ClientFactory, FindingRef], Observed]] = {
    EC2_INSTANCE: _instance,
    EBS_VOLUME: _volume,
    EBS_SNAPSHOT: _snapshot,
    ELASTIC_IP: _address,
    NAT_GATEWAY: _nat,
    LOAD_BALANCER: _load_balancer,
    CLASSIC_ELB: _classic,
    RDS_INSTANCE: _db,
}


class Action:
    id: ClassVar[str]
    label: ClassVar[str]  # the button's text
    rules: ClassVar[frozenset[str] | None]  # findings of these rules offer it; None: every finding
    destructive: ClassVar[bool] = False  # deletes or releases something: may need two approvers
    permissions: ClassVar[tuple[Grant, ...]]
    preconditions: ClassVar[tuple[str, ...]]  # what must still hold at execution, in words
    note: ClassVar[str] = ""  # said in the thread after it ran

    def applies(self, rule: str) -> bool:
        return self.rules is None or rule in self.rules

    def check(self, f: FindingRef, seen: Observed) -> Check:
        """Pure: may this action still run on what was observed?"""
        evidence: dict[str, Any] = {"exists": seen.exists, **seen.attrs}
        if not seen.exists:
            return Check(False, f"{f.label} no longer exists", evidence)
        if TAG_KEEP in seen.tags:
            return Check(False, f"{f.label} is now tagged {TAG_KEEP}", evidence)
        if seen.tags.get(TAG_FINDING) != f.rule:
            tag = seen.tags.get(TAG_FINDING)
            why = f"tagged {TAG_FINDING}={tag}" if tag else f"not tagged {TAG_FINDING} (is the sweep a dry run?)"
            return Check(False, f"{f.label} is {why}", evidence)
        problem = self.still_idle(f, seen)
        if problem:
            return Check(False, problem, evidence)
        return Check(True, "still matches the finding", evidence)

    def still_idle(self, f: FindingRef, seen: Observed) -> str | None:
        """Why the resource no longer matches the finding, or None."""
        return None

    def plan(self, f: FindingRef, ctx: RunContext) -> str:
        raise NotImplementedError

    def run(self, clients: ClientFactory, f: FindingRef, ctx: RunContext) -> str:
        raise NotImplementedError


REGISTRY: dict[str, Action] = {}


def register(cls: type[Action]) -> type[Action]:
    if cls.id in REGISTRY:
        raise ValueError(f"action {cls.id} registered twice")
    REGISTRY[cls.id] = cls()
    return cls


def actions_for(rule: str) -> list[Action]:
    """The actions a finding of this rule offers, destructive first (the registry's order)."""
    return [a for a in REGISTRY.values() if a.applies(rule)]


def _waiter_config(ctx: RunContext) -> dict[str, int]:
    return {"Delay": ctx.waiter_delay, "MaxAttempts": ctx.waiter_attempts}


_TAG_UNSAFE = re.compile(r"[^\w .:/=+\-@]")  # characters every service accepts in a tag value (RDS is strictest)


def _creation_tags(f: FindingRef, ctx: RunContext) -> list[dict[str, str]]:
    return [
        {"Key": TAG_REMEDIATION, "Value": f.id},
        {"Key": TAG_SOURCE, "Value": f.name if f.resource_id.startswith("arn:") else f.resource_id},
        {"Key": TAG_APPROVED_BY, "Value": _TAG_UNSAFE.sub("", " ".join(ctx.approvers))[:256]},
        {"Key": "Name", "Value": f"costguard backup of {f.name or f.resource_id}"[:256]},
    ]


@register
class StopInstance(Action):
    id = "stop-instance"
    label = "Stop instance"
    rules = frozenset({"ec2-idle"})
    permissions = (Grant(("ec2:StopInstances",), EC2_INSTANCE), Grant(DESCRIBE[EC2_INSTANCE], ANY, "none"))
    preconditions = ("the instance exists and is running", "still tagged costguard:finding, not costguard:keep")
    note = "Its EBS volumes (and their cost) stay; start it again any time."

    def still_idle(self, f: FindingRef, seen: Observed) -> str | None:
        state = seen.attrs.get("state")
        return None if state == "running" else f"{f.label} is {state}, not running"

    def plan(self, f: FindingRef, ctx: RunContext) -> str:
        return f"stop instance {f.label}"

    def run(self, clients: ClientFactory, f: FindingRef, ctx: RunContext) -> str:
        clients("ec2", f.region).stop_instances(InstanceIds=[f.resource_id])
        return f"Stopped instance {f.label}"


@register
class SnapshotDeleteVolume(Action):
    id = "snapshot-delete-volume"
    label = "Snapshot & delete"
    rules = frozenset({"ebs-unattached"})
    destructive = True
    permissions = (
        Grant(("ec2:CreateSnapshot",), EBS_VOLUME),
        Grant(("ec2:CreateSnapshot",), EBS_SNAPSHOT, "request-tag"),
        Grant(("ec2:CreateTags",), EBS_SNAPSHOT, "create-action"),
        Grant(("ec2:DeleteVolume",), EBS_VOLUME),
        Grant(("ec2:DescribeVolumes", "ec2:DescribeSnapshots"), ANY, "none"),
    )
    preconditions = (
        "the volume exists, is available and attached to nothing",
        "still tagged costguard:finding, not costguard:keep",
        "the snapshot has completed before the volume is deleted",
    )
    note = "The snapshot keeps the data (about a third of the volume's price per GiB); restore it any time."

    def still_idle(self, f: FindingRef, seen: Observed) -> str | None:
        attached = seen.attrs.get("attached_to") or []
        if attached:
            return f"{f.label} is now attached to {', '.join(attached)}"
        state = seen.attrs.get("state")
        return None if state == "available" else f"{f.label} is {state}, not available"

    def plan(self, f: FindingRef, ctx: RunContext) -> str:
        return f"snapshot volume {f.label} (tagged {TAG_REMEDIATION}={f.id}), wait until it completes, then delete it"

    def run(self, clients: ClientFactory, f: FindingRef, ctx: RunContext) -> str:
        ec2 = clients("ec2", f.region)
        snapshot = ctx.checkpoint.get("snapshot_id")
        if not snapshot:
            snapshot = str(
                ec2.create_snapshot(
                    VolumeId=f.resource_id,
                    Description=f"costguard: before deleting idle volume {f.resource_id} ({f.id})",
                    TagSpecifications=[{"ResourceType": "snapshot", "Tags": _creation_tags(f, ctx)}],
                )["SnapshotId"]
            )
            ctx.remember("snapshot_id", snapshot)
        # Delete only once the snapshot is complete; a waiter timeout raises and the message is retried.
        ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[snapshot], WaiterConfig=_waiter_config(ctx))
        ec2.delete_volume(VolumeId=f.resource_id)
        return f"Snapshot {snapshot} completed, then deleted volume {f.label}"


@register
class DeleteSnapshot(Action):
    id = "delete-snapshot"
    label = "Delete snapshot"
    rules = frozenset({"ebs-snapshot-old"})
    destructive = True
    permissions = (
        Grant(("ec2:DeleteSnapshot",), EBS_SNAPSHOT),
        Grant(DESCRIBE[EBS_SNAPSHOT], ANY, "none"),
    )
    preconditions = (
        "the snapshot exists and is completed",
        "no AMI of this account uses it",
        "still tagged costguard:finding, not costguard:keep",
    )

    def still_idle(self, f: FindingRef, seen: Observed) -> str | None:
        images = seen.attrs.get("image_ids") or []
        if images:
            return f"{f.label} now backs {', '.join(images)}"
        state = seen.attrs.get("state")
        return None if state == "completed" else f"{f.label} is {state}"

    def plan(self, f: FindingRef, ctx: RunContext) -> str:
        return f"delete snapshot {f.label}"

    def run(self, clients: ClientFactory, f: FindingRef, ctx: RunContext) -> str:
        clients("ec2", f.region).delete_snapshot(SnapshotId=f.resource_id)
        return f"Deleted snapshot {f.label}"


@register
class ReleaseAddress(Action):
    id = "release-eip"
    label = "Release IP"
    rules = frozenset({"eip-unassociated"})
    destructive = True
    permissions = (Grant(("ec2:ReleaseAddress",), ELASTIC_IP), Grant(DESCRIBE[ELASTIC_IP], ANY, "none"))
    preconditions = ("the address is still allocated and associated with nothing", "still tagged costguard:finding")
    note = "A released address cannot be got back unless AWS still has it unassigned (ec2:AllocateAddress --address)."

    def still_idle(self, f: FindingRef, seen: Observed) -> str | None:
        association = seen.attrs.get("association_id")
        return f"{f.label} is now associated ({association})" if association else None

    def plan(self, f: FindingRef, ctx: RunContext) -> str:
        return f"release Elastic IP {f.label}"

    def run(self, clients: ClientFactory, f: FindingRef, ctx: RunContext) -> str:
        clients("ec2", f.region).release_address(AllocationId=f.resource_id)
        return f"Released Elastic IP {f.label}"


@register
class DeleteNatGateway(Action):
    id = "delete-nat-gateway"
    label = "Delete NAT gateway"
    rules = frozenset({"nat-idle"})
    destructive = True
    permissions = (Grant(("ec2:DeleteNatGateway",), NAT_GATEWAY), Grant(DESCRIBE[NAT_GATEWAY], ANY, "none"))
    preconditions = ("the NAT gateway exists and is available", "still tagged costguard:finding")
    note = "Its Elastic IP stays allocated (and billed) until released; the next sweep reports it."

    def still_idle(self, f: FindingRef, seen: Observed) -> str | None:
        state = seen.attrs.get("state")
        return None if state == "available" else f"{f.label} is {state}"

    def plan(self, f: FindingRef, ctx: RunContext) -> str:
        return f"delete NAT gateway {f.label}"

    def run(self, clients: ClientFactory, f: FindingRef, ctx: RunContext) -> str:
        clients("ec2", f.region).delete_nat_gateway(NatGatewayId=f.resource_id)
        return f"Deleted NAT gateway {f.label}"


@register
class DeleteLoadBalancer(Action):
    id = "delete-load-balancer"
    label = "Delete load balancer"
    rules = frozenset({"elb-idle", "elb-classic-idle"})
    destructive = True
    permissions = (
        Grant(("elasticloadbalancing:DeleteLoadBalancer",), LOAD_BALANCER),
        Grant(DESCRIBE[LOAD_BALANCER], ANY, "none"),
    )
    preconditions = ("the load balancer exists", "still tagged costguard:finding, not costguard:keep")
    note = "Its target groups stay (they cost nothing on their own)."

    def still_idle(self, f: FindingRef, seen: Observed) -> str | None:
        state = seen.attrs.get("state")
        return None if state in (None, "active", "active_impaired") else f"{f.label} is {state}"

    def plan(self, f: FindingRef, ctx: RunContext) -> str:
        return f"delete load balancer {f.label}"

    def run(self, clients: ClientFactory, f: FindingRef, ctx: RunContext) -> str:
        if f.resource_type == CLASSIC_ELB:
            clients("elb", f.region).delete_load_balancer(LoadBalancerName=f.resource_id)
        else:
            clients("elbv2", f.region).delete_load_balancer(LoadBalancerArn=f.resource_id)
        return f"Deleted load balancer {f.label}"


@register
class StopDb(Action):
    id = "stop-db"
    label = "Stop database"
    rules = frozenset({"rds-idle"})
    permissions = (Grant(("rds:StopDBInstance",), RDS_INSTANCE), Grant(DESCRIBE[RDS_INSTANCE], ANY, "none"))
    preconditions = ("the DB instance exists and is available", "still tagged costguard:finding")
    note = (
        "AWS starts a stopped DB instance again automatically after 7 days. To stop paying for it for good, "
        "use *Snapshot & delete DB*."
    )

    def still_idle(self, f: FindingRef, seen: Observed) -> str | None:
        state = seen.attrs.get("state")
        return None if state == "available" else f"{f.label} is {state}, not available"

    def plan(self, f: FindingRef, ctx: RunContext) -> str:
        return f"stop DB instance {f.label}"

    def run(self, clients: ClientFactory, f: FindingRef, ctx: RunContext) -> str:
        clients("rds", f.region).stop_db_instance(DBInstanceIdentifier=f.name or f.resource_id)
        return f"Stopped DB instance {f.label}"


@register
class SnapshotDeleteDb(Action):
    id = "snapshot-delete-db"
    label = "Snapshot & delete DB"
    rules = frozenset({"rds-idle"})
    destructive = True
    permissions = (
        Grant(("rds:CreateDBSnapshot",), RDS_INSTANCE),
        Grant(("rds:CreateDBSnapshot", "rds:AddTagsToResource"), RDS_SNAPSHOT, "request-tag"),
        Grant(("rds:DeleteDBInstance",), RDS_INSTANCE),
        Grant(("rds:DescribeDBInstances", "rds:DescribeDBSnapshots"), ANY, "none"),
    )
    preconditions = (
        "the DB instance exists and is available or stopped",
        "still tagged costguard:finding, not costguard:keep",
        "the snapshot is available before the instance is deleted",
    )

    def still_idle(self, f: FindingRef, seen: Observed) -> str | None:
        state = seen.attrs.get("state")
        return None if state in ("available", "stopped") else f"{f.label} is {state}"

    def _snapshot_name(self, f: FindingRef, ctx: RunContext) -> str:
        return f"costguard-{f.name or 'db'}-{ctx.now:%Y%m%d%H%M}"[:255]

    def plan(self, f: FindingRef, ctx: RunContext) -> str:
        name = self._snapshot_name(f, ctx)
        return f"snapshot DB instance {f.label} as {name}, wait until it is available, then delete it"

    def run(self, clients: ClientFactory, f: FindingRef, ctx: RunContext) -> str:
        rds = clients("rds", f.region)
        name = f.name or f.resource_id
        snapshot = ctx.checkpoint.get("snapshot_id")
        if not snapshot:
            snapshot = self._snapshot_name(f, ctx)
            rds.create_db_snapshot(
                DBSnapshotIdentifier=snapshot, DBInstanceIdentifier=name, Tags=_creation_tags(f, ctx)
            )
            ctx.remember("snapshot_id", snapshot)
        rds.get_waiter("db_snapshot_available").wait(DBSnapshotIdentifier=snapshot, WaiterConfig=_waiter_config(ctx))
        rds.delete_db_instance(DBInstanceIdentifier=name, SkipFinalSnapshot=True, DeleteAutomatedBackups=False)
        return f"Snapshot {snapshot} available, then deleted DB instance {f.label}"


@register
class Snooze(Action):
    id = "snooze"
    label = "Snooze"
    rules = None
    permissions = (*_tag_grants((TAG_STATUS,)), *(Grant(d, ANY, "none") for d in DESCRIBE.values()))
    preconditions = ("the resource still exists",)

    def check(self, f: FindingRef, seen: Observed) -> Check:
        if not seen.exists:
            return Check(False, f"{f.label} no longer exists", {"exists": False})
        return Check(True, "exists", {"exists": True})

    def plan(self, f: FindingRef, ctx: RunContext) -> str:
        return f"leave {f.label} out of the digest for {ctx.snooze_days} days"

    def run(self, clients: ClientFactory, f: FindingRef, ctx: RunContext) -> str:
        until = ctx.now + timedelta(days=ctx.snooze_days)
        ctx.snooze(until)
        tagging.apply(clients, [TagChange(f.resource(), set={TAG_STATUS: "snoozed"})])
        return f"Snoozed {f.label} until {until.date().isoformat()}"


@register
class Keep(Action):
    id = "keep"
    label = "Keep"
    rules = None
    permissions = (*_tag_grants((TAG_KEEP,)), *(Grant(d, ANY, "none") for d in DESCRIBE.values()))
    preconditions = ("the resource still exists",)

    def check(self, f: FindingRef, seen: Observed) -> Check:
        if not seen.exists:
            return Check(False, f"{f.label} no longer exists", {"exists": False})
        return Check(True, "exists", {"exists": True})

    def plan(self, f: FindingRef, ctx: RunContext) -> str:
        return f"tag {f.label} {TAG_KEEP} so costguard never reports it again"

    def run(self, clients: ClientFactory, f: FindingRef, ctx: RunContext) -> str:
        value = f"{ctx.approvers[0] if ctx.approvers else 'slack'} {ctx.now.date().isoformat()}"
        tagging.apply(clients, [TagChange(f.resource(), set={TAG_KEEP: value})])
        return f"Tagged {f.label} {TAG_KEEP}: costguard will not report it again"


def required_permissions() -> list[Grant]:
    """Every grant of every registered action (the worker's role is built from these)."""
    seen: dict[Grant, None] = {}
    for action in REGISTRY.values():
        for grant in action.permissions:
            seen.setdefault(grant, None)
    return list(seen)
