"""Describe what the enabled rules look at, one region at a time, with paginators and the largest pages
each API allows; tags come with the description where the API offers it, else in batches of 20."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from costguard.idle.model import (
    CLASSIC_ELB,
    EBS_SNAPSHOT,
    EBS_VOLUME,
    EC2_INSTANCE,
    ELASTIC_IP,
    LOAD_BALANCER,
    NAT_GATEWAY,
    RDS_INSTANCE,
    Resource,
)

TAGGING_PAGE = 100  # GetResources' largest page
ELB_TAG_BATCH = 20  # classic DescribeTags takes at most 20 names


class ClientFactory:
    """boto3 clients per (service, region) with standard retries, built once and shared by the threads.

    Building clients from one session is not thread-safe; using a built client is."""

    def __init__(self, build: Callable[[str, str], Any] | None = None) -> None:
        self._build = build or _default_build
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def __call__(self, service: str, region: str) -> Any:
        with self._lock:
            key = (service, region)
            if key not in self._clients:
                self._clients[key] = self._build(service, region)
            return self._clients[key]


def _default_build(service: str, region: str) -> Any:
    from costguard.adapters.aws import aws_client

    return aws_client(service, region=region)


@dataclass
class Inventory:
    region: str
    resources: dict[str, list[Resource]] = field(default_factory=lambda: defaultdict(list))

    @property
    def volumes(self) -> dict[str, Resource]:
        return {v.id: v for v in self.resources.get(EBS_VOLUME, [])}

    def count(self) -> int:
        return sum(len(v) for v in self.resources.values())


def _tags(items: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in items or ()}


def _utc(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> Iterator[Mapping[str, Any]]:
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, [])


def describe(clients: ClientFactory, region: str, account: str, types: set[str]) -> Inventory:
    """Everything of these resource types in the region (EC2 instances bring their volumes along)."""
    inv = Inventory(region)
    if EC2_INSTANCE in types or EBS_VOLUME in types:
        inv.resources[EBS_VOLUME] = list(_volumes(clients("ec2", region), region, account))
    if EC2_INSTANCE in types:
        inv.resources[EC2_INSTANCE] = list(_instances(clients("ec2", region), region, account))
    if EBS_SNAPSHOT in types:
        inv.resources[EBS_SNAPSHOT] = _snapshots(clients("ec2", region), region, account)
    if ELASTIC_IP in types:
        inv.resources[ELASTIC_IP] = list(_addresses(clients("ec2", region), region, account))
    if NAT_GATEWAY in types:
        inv.resources[NAT_GATEWAY] = list(_nat_gateways(clients("ec2", region), region, account))
    if LOAD_BALANCER in types or CLASSIC_ELB in types:
        # The ELB APIs return no tags: one tagging-API sweep, 100 a page, instead of DescribeTags per 20.
        tags = _load_balancer_tags(clients("resourcegroupstaggingapi", region))
        if LOAD_BALANCER in types:
            inv.resources[LOAD_BALANCER] = _load_balancers(clients("elbv2", region), region, account, tags)
        if CLASSIC_ELB in types:
            inv.resources[CLASSIC_ELB] = _classic_elbs(clients("elb", region), region, account, tags)
    if RDS_INSTANCE in types:
        inv.resources[RDS_INSTANCE] = list(_db_instances(clients("rds", region), region, account))
    return inv


def _volumes(ec2: Any, region: str, account: str) -> Iterator[Resource]:
    for v in _pages(ec2, "describe_volumes", "Volumes", PaginationConfig={"PageSize": 500}):
        tags = _tags(v.get("Tags"))
        yield Resource(
            type=EBS_VOLUME,
            id=v["VolumeId"],
            region=region,
            account=account,
            name=tags.get("Name", ""),
            created=_utc(v.get("CreateTime")),
            tags=tags,
            attrs={
                "state": v.get("State"),
                "volume_type": v.get("VolumeType"),
                "size": v.get("Size", 0),
                "iops": v.get("Iops"),
                "throughput": v.get("Throughput"),
                "instance_ids": [a["InstanceId"] for a in v.get("Attachments", []) if a.get("InstanceId")],
            },
        )


def _instances(ec2: Any, region: str, account: str) -> Iterator[Resource]:
    states = {"Name": "instance-state-name", "Values": ["running", "stopped"]}
    pages = ec2.get_paginator("describe_instances").paginate(Filters=[states], PaginationConfig={"PageSize": 1000})
    for page in pages:
        for reservation in page.get("Reservations", []):
            owner = reservation.get("OwnerId") or account
            for i in reservation.get("Instances", []):
                tags = _tags(i.get("Tags"))
                yield Resource(
                    type=EC2_INSTANCE,
                    id=i["InstanceId"],
                    region=region,
                    account=owner,
                    name=tags.get("Name", ""),
                    created=_utc(i.get("LaunchTime")),
                    tags=tags,
                    attrs={
                        "state": i.get("State", {}).get("Name"),
                        "state_reason": i.get("StateTransitionReason", ""),
                        "instance_type": i.get("InstanceType"),
                        "volume_ids": [m["Ebs"]["VolumeId"] for m in i.get("BlockDeviceMappings", []) if "Ebs" in m],
                    },
                )


def _snapshots(ec2: Any, region: str, account: str) -> list[Resource]:
    backing: dict[str, list[str]] = defaultdict(list)
    for image in _pages(ec2, "describe_images", "Images", Owners=["self"], PaginationConfig={"PageSize": 1000}):
        for mapping in image.get("BlockDeviceMappings", []):
            snapshot = mapping.get("Ebs", {}).get("SnapshotId")
            if snapshot:
                backing[snapshot].append(image["ImageId"])
    snapshots = []
    pages = _pages(ec2, "describe_snapshots", "Snapshots", OwnerIds=["self"], PaginationConfig={"PageSize": 1000})
    for s in pages:
        tags = _tags(s.get("Tags"))
        snapshots.append(
            Resource(
                type=EBS_SNAPSHOT,
                id=s["SnapshotId"],
                region=region,
                account=s.get("OwnerId") or account,
                name=tags.get("Name", ""),
                created=_utc(s.get("StartTime")),
                tags=tags,
                attrs={
                    "state": s.get("State"),
                    "size": s.get("VolumeSize", 0),
                    "volume_id": s.get("VolumeId"),
                    "image_ids": backing.get(s["SnapshotId"], []),
                },
            )
        )
    return snapshots


def _addresses(ec2: Any, region: str, account: str) -> Iterator[Resource]:
    # DescribeAddresses returns every address in one response: it has no pagination.
    for a in ec2.describe_addresses().get("Addresses", []):
        tags = _tags(a.get("Tags"))
        yield Resource(
            type=ELASTIC_IP,
            id=a.get("AllocationId") or a["PublicIp"],
            region=region,
            account=account,
            name=tags.get("Name", ""),
            tags=tags,
            attrs={
                "public_ip": a.get("PublicIp"),
                "association_id": a.get("AssociationId"),
                "network_interface_id": a.get("NetworkInterfaceId"),
                "instance_id": a.get("InstanceId"),
            },
        )


def _nat_gateways(ec2: Any, region: str, account: str) -> Iterator[Resource]:
    available = {"Name": "state", "Values": ["available"]}
    pages = _pages(ec2, "describe_nat_gateways", "NatGateways", Filter=[available], PaginationConfig={"PageSize": 1000})
    for n in pages:
        tags = _tags(n.get("Tags"))
        yield Resource(
            type=NAT_GATEWAY,
            id=n["NatGatewayId"],
            region=region,
            account=account,
            name=tags.get("Name", ""),
            created=_utc(n.get("CreateTime")),
            tags=tags,
            attrs={"state": n.get("State"), "vpc_id": n.get("VpcId")},
        )


def _arn_account(arn: str, default: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 4 and parts[4] else default


def _load_balancer_tags(tagging: Any) -> dict[str, dict[str, str]]:
    """{"app/<name>/<id>" or "<classic name>": tags} for every tagged load balancer in the region."""
    out: dict[str, dict[str, str]] = {}
    pages = _pages(
        tagging,
        "get_resources",
        "ResourceTagMappingList",
        ResourceTypeFilters=["elasticloadbalancing:loadbalancer"],
        ResourcesPerPage=TAGGING_PAGE,
    )
    for mapping in pages:
        out[mapping["ResourceARN"].split(":loadbalancer/", 1)[-1]] = _tags(mapping.get("Tags"))
    return out


def _load_balancers(elbv2: Any, region: str, account: str, tags: Mapping[str, dict[str, str]]) -> list[Resource]:
    lbs = list(_pages(elbv2, "describe_load_balancers", "LoadBalancers", PaginationConfig={"PageSize": 400}))
    if not lbs:
        return []
    groups: dict[str, list[str]] = defaultdict(list)
    for tg in _pages(elbv2, "describe_target_groups", "TargetGroups", PaginationConfig={"PageSize": 400}):
        suffix = tg["TargetGroupArn"].split(":", 5)[-1]  # targetgroup/<name>/<id>, the metric dimension
        for lb_arn in tg.get("LoadBalancerArns", []):
            groups[lb_arn].append(suffix)
    resources = []
    for lb in lbs:
        arn = lb["LoadBalancerArn"]
        dimension = arn.split(":loadbalancer/", 1)[-1]  # app/<name>/<id>
        resources.append(
            Resource(
                type=LOAD_BALANCER,
                id=arn,
                region=region,
                account=_arn_account(arn, account),
                name=lb.get("LoadBalancerName", ""),
                created=_utc(lb.get("CreatedTime")),
                tags=tags.get(dimension, {}),
                attrs={
                    "lb_type": lb.get("Type"),
                    "state": lb.get("State", {}).get("Code"),
                    "dimension": dimension,
                    "target_groups": sorted(groups.get(arn, [])),
                },
            )
        )
    return resources


def _classic_elbs(elb: Any, region: str, account: str, tags: Mapping[str, dict[str, str]]) -> list[Resource]:
    lbs = list(_pages(elb, "describe_load_balancers", "LoadBalancerDescriptions", PaginationConfig={"PageSize": 400}))
    names = [lb["LoadBalancerName"] for lb in lbs]
    if names and not any(name in tags for name in names):
        # The tagging API listed no classic load balancer: either none is tagged, or the endpoint does not
        # cover classic ones (moto). Ask the ELB API, 20 names a call.
        tags = dict(tags)
        for i in range(0, len(names), ELB_TAG_BATCH):
            for d in elb.describe_tags(LoadBalancerNames=names[i : i + ELB_TAG_BATCH]).get("TagDescriptions", []):
                tags[d["LoadBalancerName"]] = _tags(d.get("Tags"))
    return [
        Resource(
            type=CLASSIC_ELB,
            id=lb["LoadBalancerName"],
            region=region,
            account=account,
            name=lb["LoadBalancerName"],
            created=_utc(lb.get("CreatedTime")),
            tags=tags.get(lb["LoadBalancerName"], {}),
            attrs={"instance_ids": [i["InstanceId"] for i in lb.get("Instances", [])]},
        )
        for lb in lbs
    ]


def _db_instances(rds: Any, region: str, account: str) -> Iterator[Resource]:
    for db in _pages(rds, "describe_db_instances", "DBInstances", PaginationConfig={"PageSize": 100}):
        arn = db["DBInstanceArn"]
        yield Resource(
            type=RDS_INSTANCE,
            id=arn,
            region=region,
            account=_arn_account(arn, account),
            name=db["DBInstanceIdentifier"],
            created=_utc(db.get("InstanceCreateTime")),
            tags=_tags(db.get("TagList")),
            attrs={
                "state": db.get("DBInstanceStatus"),
                "instance_class": db.get("DBInstanceClass"),
                "engine": db.get("Engine"),
                "multi_az": bool(db.get("MultiAZ")),
                "storage_gb": db.get("AllocatedStorage", 0),
                "storage_type": db.get("StorageType", "gp2"),
            },
        )
