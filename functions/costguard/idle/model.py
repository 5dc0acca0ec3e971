"""Plain data the sweep passes around: resources as described, metric requests and answers, findings."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Kind = Literal["idle", "saving"]

# Resource types, named like IAM's resource types so permissions and findings read the same.
EC2_INSTANCE = "ec2:instance"
EBS_VOLUME = "ec2:volume"
EBS_SNAPSHOT = "ec2:snapshot"
ELASTIC_IP = "ec2:elastic-ip"
NAT_GATEWAY = "ec2:natgateway"
LOAD_BALANCER = "elasticloadbalancing:loadbalancer"  # application and network (ELBv2)
CLASSIC_ELB = "elasticloadbalancing:classic"
RDS_INSTANCE = "rds:db"
RESOURCE_TYPES = (
    EC2_INSTANCE,
    EBS_VOLUME,
    EBS_SNAPSHOT,
    ELASTIC_IP,
    NAT_GATEWAY,
    LOAD_BALANCER,
    CLASSIC_ELB,
    RDS_INSTANCE,
)

TAG_PREFIX = "costguard:"
TAG_FINDING = "costguard:finding"
TAG_IDLE_SINCE = "costguard:idle-since"
TAG_STATUS = "costguard:status"
TAG_KEEP = "costguard:keep"
FINDING_TAGS = (TAG_FINDING, TAG_IDLE_SINCE, TAG_STATUS)


@dataclass(frozen=True)
class Resource:
    """One resource as its describe call returned it, reduced to what rules, pricing and tagging read."""

    type: str
    id: str  # what tagging calls take: instance/volume/... id, load balancer ARN or name, DB ARN
    region: str
    account: str
    name: str = ""  # a human label (Name tag, DB identifier, load balancer name)
    created: datetime | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    attrs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def kept(self) -> bool:
        return TAG_KEEP in self.tags


@dataclass(frozen=True)
class MetricRequest:
    """One CloudWatch series a rule wants, under a key the rule reads the answer back by."""

    key: str
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]
    stat: str  # Average | Maximum | Minimum | Sum | SampleCount
    period: int  # seconds


@dataclass(frozen=True)
class Series:
    """Datapoints of one MetricRequest in time order; empty when CloudWatch has none in the window."""

    timestamps: tuple[datetime, ...] = ()
    values: tuple[float, ...] = ()

    def total(self) -> float:
        return float(sum(self.values))

    def peak(self) -> float | None:
        return max(self.values) if self.values else None


@dataclass(frozen=True)
class Verdict:
    """What a rule concluded about one resource."""

    reason: str
    evidence: Mapping[str, float | int | str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Finding:
    rule: str
    kind: Kind
    resource: Resource
    reason: str
    monthly_cost: float | None  # USD/month billed (idle) or saved (saving); None when the price is unknown
    evidence: Mapping[str, float | int | str | None] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return finding_id(self.resource.account, self.resource.region, self.rule, self.resource.id)

    def as_record(self) -> dict[str, Any]:
        """The one-line JSON shape the CLI prints and the state table stores."""
        return {
            "resource_id": self.resource.id,
            "resource_type": self.resource.type,
            "region": self.resource.region,
            "account": self.resource.account,
            "rule": self.rule,
            "reason": self.reason,
            "monthly_cost": None if self.monthly_cost is None else round(self.monthly_cost, 2),
        }


def finding_id(account: str, region: str, rule: str, resource_id: str) -> str:
    """Stable and opaque: the same resource under the same rule always gets the same id."""
    digest = hashlib.sha256(f"{account}\0{region}\0{rule}\0{resource_id}".encode()).hexdigest()
    return f"idl-{digest[:20]}"
