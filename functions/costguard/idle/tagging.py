"""Apply TagChanges with as few calls as each API allows: EC2 tags many resources a call (grouped by
identical tags), ELBv2 20 ARNs a call, classic ELB one name, RDS one ARN."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

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
)

EC2_TYPES = frozenset({EC2_INSTANCE, EBS_VOLUME, EBS_SNAPSHOT, ELASTIC_IP, NAT_GATEWAY})
EC2_BATCH = 1000
ELBV2_BATCH = 20


def _kv(tags: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags]


def apply(clients: ClientFactory, changes: Iterable[TagChange]) -> int:
    """Apply every change; returns the number of API calls made. Errors propagate."""
    adds: dict[tuple[str, str, tuple[tuple[str, str], ...]], list[str]] = defaultdict(list)
    removes: dict[tuple[str, str, tuple[str, ...]], list[str]] = defaultdict(list)
    for c in changes:
        family = "ec2" if c.resource.type in EC2_TYPES else c.resource.type
        if c.set:
            adds[(family, c.resource.region, tuple(sorted(c.set.items())))].append(c.resource.id)
        if c.remove:
            removes[(family, c.resource.region, tuple(sorted(c.remove)))].append(c.resource.id)
    calls = 0
    for (family, region, tags), ids in adds.items():
        calls += _add(clients, family, region, tags, ids)
    for (family, region, keys), ids in removes.items():
        calls += _remove(clients, family, region, keys, ids)
    return calls


def _add(clients: ClientFactory, family: str, region: str, tags: tuple[tuple[str, str], ...], ids: list[str]) -> int:
    calls = 0
    if family == "ec2":
        for i in range(0, len(ids), EC2_BATCH):
            clients("ec2", region).create_tags(Resources=ids[i : i + EC2_BATCH], Tags=_kv(tags))
            calls += 1
    elif family == LOAD_BALANCER:
        for i in range(0, len(ids), ELBV2_BATCH):
            clients("elbv2", region).add_tags(ResourceArns=ids[i : i + ELBV2_BATCH], Tags=_kv(tags))
            calls += 1
    elif family == CLASSIC_ELB:
        for name in ids:
            clients("elb", region).add_tags(LoadBalancerNames=[name], Tags=_kv(tags))
            calls += 1
    elif family == RDS_INSTANCE:
        for arn in ids:
            clients("rds", region).add_tags_to_resource(ResourceName=arn, Tags=_kv(tags))
            calls += 1
    else:
        raise ValueError(f"costguard: cannot tag resource type {family}")
    return calls


def _remove(clients: ClientFactory, family: str, region: str, keys: tuple[str, ...], ids: list[str]) -> int:
    calls = 0
    client: Any
    if family == "ec2":
        client = clients("ec2", region)
        for i in range(0, len(ids), EC2_BATCH):
            client.delete_tags(Resources=ids[i : i + EC2_BATCH], Tags=[{"Key": k} for k in keys])
            calls += 1
    elif family == LOAD_BALANCER:
        client = clients("elbv2", region)
        for i in range(0, len(ids), ELBV2_BATCH):
            client.remove_tags(ResourceArns=ids[i : i + ELBV2_BATCH], TagKeys=list(keys))
            calls += 1
    elif family == CLASSIC_ELB:
        client = clients("elb", region)
        for name in ids:
            client.remove_tags(LoadBalancerNames=[name], Tags=[{"Key": k} for k in keys])
            calls += 1
    elif family == RDS_INSTANCE:
        client = clients("rds", region)
        for arn in ids:
            client.remove_tags_from_resource(ResourceName=arn, TagKeys=list(keys))
            calls += 1
    else:
        raise ValueError(f"costguard: cannot untag resource type {family}")
    return calls
