"""The rule registry: each rule names its resource type, its thresholds (with defaults), its lookback and
the IAM permissions its describe and metric calls need. Rules are pure: a resource as described, its
metric series and `now` in; a verdict out. No boto3, no clock.

Metric windows are whole UTC days ending at midnight before `now`, so a rule's "whole window" period
gives exactly one datapoint and daily periods give one per day.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from costguard.idle import pricing
from costguard.idle.model import (
    CLASSIC_ELB,
    EBS_SNAPSHOT,
    EBS_VOLUME,
    EC2_INSTANCE,
    ELASTIC_IP,
    LOAD_BALANCER,
    NAT_GATEWAY,
    RDS_INSTANCE,
    Kind,
    MetricRequest,
    Resource,
    Series,
    Verdict,
)

DAY = 86400
MB = 1_000_000
GET_METRIC_DATA = "cloudwatch:GetMetricData"

# What tagging each resource type needs (the sweep tags only with costguard:* keys).
TAG_PERMISSIONS: Mapping[str, tuple[str, ...]] = {
    EC2_INSTANCE: ("ec2:CreateTags", "ec2:DeleteTags"),
    EBS_VOLUME: ("ec2:CreateTags", "ec2:DeleteTags"),
    EBS_SNAPSHOT: ("ec2:CreateTags", "ec2:DeleteTags"),
    ELASTIC_IP: ("ec2:CreateTags", "ec2:DeleteTags"),
    NAT_GATEWAY: ("ec2:CreateTags", "ec2:DeleteTags"),
    LOAD_BALANCER: ("elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"),
    CLASSIC_ELB: ("elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"),
    RDS_INSTANCE: ("rds:AddTagsToResource", "rds:RemoveTagsFromResource"),
}
# Region discovery; sts:GetCallerIdentity needs no permission.
SWEEP_PERMISSIONS = ("ec2:DescribeRegions",)

_STOPPED_AT = re.compile(r"\((\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) (?:GMT|UTC)\)")


class RuleConfigError(ValueError):
    """An unknown rule or threshold, or a threshold of the wrong type."""


def window(now: datetime, days: int) -> tuple[datetime, datetime]:
    """[start, end): the last `days` whole UTC days before `now`."""
    end = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return end - timedelta(days=days), end


def age_days(since: datetime | None, now: datetime) -> float | None:
    return None if since is None else (now - since).total_seconds() / DAY


def stopped_since(reason: str) -> datetime | None:
    """EC2 puts the stop time in StateTransitionReason: "User initiated (2024-01-01 12:00:00 GMT)"."""
    match = _STOPPED_AT.search(reason or "")
    if not match:
        return None
    return datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def gib(size: float) -> str:
    return f"{size:,.0f} GiB"


@dataclass(frozen=True)
class Context:
    """What a rule sees besides the resource: `now`, its metric series and the region's volumes."""

    now: datetime
    series: Mapping[str, Series]
    volumes: Mapping[str, Resource]


@dataclass(frozen=True)
class Params:
    """Thresholds; subclasses add fields with defaults."""


@dataclass(frozen=True)
class MetricParams(Params):
    lookback_days: int = 14


class Rule:
    name: ClassVar[str]
    resource_type: ClassVar[str]
    kind: ClassVar[Kind] = "idle"
    summary: ClassVar[str]
    permissions: ClassVar[tuple[str, ...]]
    params_type: ClassVar[type[Params]] = Params

    def __init__(self, params: Params | None = None) -> None:
        self.params: Any = params or self.params_type()

    @property
    def lookback_days(self) -> int:
        return int(getattr(self.params, "lookback_days", 0))

    def candidate(self, r: Resource, now: datetime) -> bool:
        """Cheap check on the description alone; only candidates get metric queries."""
        return True

    def metrics(self, r: Resource) -> list[MetricRequest]:
        return []

    def evaluate(self, r: Resource, ctx: Context) -> Verdict | None:
        raise NotImplementedError

    def monthly_cost(self, r: Resource, ctx: Context) -> float | None:
        raise NotImplementedError

    def _window_metric(
        self, key: str, namespace: str, metric: str, dims: Sequence[tuple[str, str]], stat: str, *, daily: bool = False
    ) -> MetricRequest:
        period = DAY if daily else self.lookback_days * DAY
        return MetricRequest(key, namespace, metric, tuple(dims), stat, period)


REGISTRY: dict[str, type[Rule]] = {}


def register(cls: type[Rule]) -> type[Rule]:
    if cls.name in REGISTRY:
        raise RuleConfigError(f"costguard: rule {cls.name!r} registered twice")
    REGISTRY[cls.name] = cls
    return cls


def _attached_volumes_cost(r: Resource, ctx: Context) -> tuple[float | None, float]:
    """(monthly cost, total GiB) of the EBS volumes attached to an instance."""
    costs: list[float | None] = []
    size = 0.0
    for volume_id in r.attrs.get("volume_ids", ()):
        volume = ctx.volumes.get(volume_id)
        if volume is None:
            costs.append(None)
            continue
        size += float(volume.attrs["size"])
        costs.append(_volume_cost(volume))
    return pricing.add(*costs), size


def _volume_cost(v: Resource) -> float | None:
    return pricing.ebs_volume_monthly(
        v.region, str(v.attrs["volume_type"]), float(v.attrs["size"]), v.attrs.get("iops"), v.attrs.get("throughput")
    )


# --- EC2 ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ec2IdleParams(MetricParams):
    cpu_average_pct: float = 2.0  # the lookback's average CPU must stay below this
    cpu_peak_pct: float = 10.0  # a day whose peak CPU reaches this is a busy day
    max_peak_days: int = 0  # ... and more busy days than this make the instance not idle
    network_mb_per_day: float = 5.0  # NetworkIn + NetworkOut, averaged per day
    min_days_with_data: int = 12  # fewer daily CPU datapoints: not enough evidence, no verdict


@register
class Ec2Idle(Rule):
    """Running but doing nothing: low average CPU AND no CPU peaks AND little network.

    The peak test is what keeps a bursty instance (low median, real spikes; the shape of NAB's
    ec2_cpu_utilization_77c1ca) from being called idle: its daily maxima are the evidence it works.
    """

    name = "ec2-idle"
    resource_type = EC2_INSTANCE
    summary = "EC2 instances running but idle"
    permissions = ("ec2:DescribeInstances", "ec2:DescribeVolumes", GET_METRIC_DATA)
    params_type = Ec2IdleParams

    def candidate(self, r: Resource, now: datetime) -> bool:
        age = age_days(r.created, now)
        return r.attrs.get("state") == "running" and age is not None and age >= self.lookback_days

    def metrics(self, r: Resource) -> list[MetricRequest]:
        dims = [("InstanceId", r.id)]
        return [
            self._window_metric("cpu_average", "AWS/EC2", "CPUUtilization", dims, "Average"),
            self._window_metric("cpu_daily_peak", "AWS/EC2", "CPUUtilization", dims, "Maximum", daily=True),
            self._window_metric("network_in", "AWS/EC2", "NetworkIn", dims, "Sum"),
            self._window_metric("network_out", "AWS/EC2", "NetworkOut", dims, "Sum"),
        ]

    def evaluate(self, r: Resource, ctx: Context) -> Verdict | None:
        p: Ec2IdleParams = self.params
        peaks = ctx.series.get("cpu_daily_peak", Series())
        average = ctx.series.get("cpu_average", Series())
        if len(peaks.values) < p.min_days_with_data or not average.values:
            return None
        cpu = sum(average.values) / len(average.values)
        busy_days = sum(v >= p.cpu_peak_pct for v in peaks.values)
        network = (ctx.series["network_in"].total() + ctx.series["network_out"].total()) / p.lookback_days
        if cpu >= p.cpu_average_pct or busy_days > p.max_peak_days or network >= p.network_mb_per_day * MB:
            return None
        peak = max(peaks.values)
        return Verdict(
            reason=f"CPU {cpu:.1f}% average and {peak:.1f}% at most over {p.lookback_days} days, "
            f"network {network / MB:.1f} MB/day",
            evidence={
                "cpu_average_pct": round(cpu, 3),
                "cpu_peak_pct": round(peak, 3),
                "network_bytes_per_day": network,
            },
        )

    def monthly_cost(self, r: Resource, ctx: Context) -> float | None:
        volumes, _ = _attached_volumes_cost(r, ctx)
        return pricing.add(pricing.ec2_instance_monthly(r.region, str(r.attrs["instance_type"])), volumes)


@dataclass(frozen=True)
class Ec2StoppedParams(Params):
    stopped_days: int = 30


@register
class Ec2Stopped(Rule):
    name = "ec2-stopped"
    resource_type = EC2_INSTANCE
    summary = "EC2 instances stopped for long (their volumes still bill)"
    permissions = ("ec2:DescribeInstances", "ec2:DescribeVolumes")
    params_type = Ec2StoppedParams

    def candidate(self, r: Resource, now: datetime) -> bool:
        return r.attrs.get("state") == "stopped"

    def evaluate(self, r: Resource, ctx: Context) -> Verdict | None:
        since = stopped_since(str(r.attrs.get("state_reason", "")))
        days = age_days(since, ctx.now)
        if since is None or days is None or days < self.params.stopped_days:
            return None
        _, size = _attached_volumes_cost(r, ctx)
        count = len(r.attrs.get("volume_ids", ()))
        return Verdict(
            reason=f"stopped since {since.date().isoformat()} ({days:.0f} days); "
            f"{count} volume(s), {gib(size)}, still bill",
            evidence={"stopped_since": since.isoformat(), "volume_gib": size},
        )

    def monthly_cost(self, r: Resource, ctx: Context) -> float | None:
        volumes, _ = _attached_volumes_cost(r, ctx)
        return volumes


# --- EBS ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EbsUnattachedParams(Params):
    unattached_days: int = 7


@register
class EbsUnattached(Rule):
    """AWS records no detach time: a volume unattached now and created more than N days ago qualifies."""

    name = "ebs-unattached"
    resource_type = EBS_VOLUME
    summary = "EBS volumes not attached to anything"
    permissions = ("ec2:DescribeVolumes",)
    params_type = EbsUnattachedParams

    def candidate(self, r: Resource, now: datetime) -> bool:
        return r.attrs.get("state") == "available"

    def evaluate(self, r: Resource, ctx: Context) -> Verdict | None:
        age = age_days(r.created, ctx.now)
        if age is None or age < self.params.unattached_days:
            return None
        return Verdict(
            reason=f"{r.attrs['volume_type']} {gib(float(r.attrs['size']))} unattached, created {age:.0f} days ago",
            evidence={"age_days": round(age, 1)},
        )

    def monthly_cost(self, r: Resource, ctx: Context) -> float | None:
        return _volume_cost(r)


@dataclass(frozen=True)
class Gp2Params(Params):
    min_saving_usd: float = 1.0  # per month; smaller savings are not worth a message


@register
class Gp2ToGp3(Rule):
    """A saving, not idleness: gp3 matches gp2's baseline (and burst) IOPS and throughput for less."""

    name = "ebs-gp2-to-gp3"
    resource_type = EBS_VOLUME
    kind = "saving"
    summary = "gp2 volumes that would be cheaper as gp3"
    permissions = ("ec2:DescribeVolumes",)
    params_type = Gp2Params

    def candidate(self, r: Resource, now: datetime) -> bool:
        return r.attrs.get("volume_type") == "gp2"

    def evaluate(self, r: Resource, ctx: Context) -> Verdict | None:
        size = float(r.attrs["size"])
        saving = pricing.gp3_saving_monthly(r.region, size)
        if saving is not None and saving < self.params.min_saving_usd:
            return None
        iops, throughput = pricing.gp2_as_gp3(size)
        return Verdict(
            reason=f"gp2 {gib(size)} as gp3 with {iops:,.0f} IOPS and {throughput:.0f} MiB/s costs less",
            evidence={"gp3_iops": iops, "gp3_throughput": throughput},
        )

    def monthly_cost(self, r: Resource, ctx: Context) -> float | None:
        return pricing.gp3_saving_monthly(r.region, float(r.attrs["size"]))


@dataclass(frozen=True)
class SnapshotParams(Params):
    older_than_days: int = 90


@register
class OldSnapshot(Rule):
    name = "ebs-snapshot-old"
    resource_type = EBS_SNAPSHOT
    summary = "old EBS snapshots that back no AMI"
    permissions = ("ec2:DescribeSnapshots", "ec2:DescribeImages")
    params_type = SnapshotParams

    def candidate(self, r: Resource, now: datetime) -> bool:
        return r.attrs.get("state") == "completed" and not r.attrs.get("image_ids")

    def evaluate(self, r: Resource, ctx: Context) -> Verdict | None:
        age = age_days(r.created, ctx.now)
        if age is None or age < self.params.older_than_days:
            return None
        return Verdict(
            reason=f"{age:.0f} days old, backs no AMI (volume {gib(float(r.attrs['size']))}; "
            "cost is an upper bound: snapshots are incremental)",
            evidence={"age_days": round(age, 1)},
        )

    def monthly_cost(self, r: Resource, ctx: Context) -> float | None:
        return pricing.snapshot_monthly(r.region, float(r.attrs["size"]))


# --- network ------------------------------------------------------------------------------------------


@register
class UnassociatedEip(Rule):
    name = "eip-unassociated"
    resource_type = ELASTIC_IP
    summary = "Elastic IPs not associated"
    permissions = ("ec2:DescribeAddresses",)

    def candidate(self, r: Resource, now: datetime) -> bool:
        return not r.attrs.get("association_id") and not r.attrs.get("network_interface_id")

    def evaluate(self, r: Resource, ctx: Context) -> Verdict | None:
        return Verdict(reason=f"{r.attrs.get('public_ip', 'address')} is not associated with anything")

    def monthly_cost(self, r: Resource, ctx: Context) -> float | None:
        return pricing.elastic_ip_monthly(r.region)


@dataclass(frozen=True)
class NatParams(MetricParams):
    max_mb: float = 1.0  # bytes to and from the destination side over the whole lookback


@register
class IdleNatGateway(Rule):
    """No traffic in either direction; NAT gateway metrics count only traffic, so no datapoints means none."""

    name = "nat-idle"
    resource_type = NAT_GATEWAY
    summary = "NAT gateways with no traffic"
    permissions = ("ec2:DescribeNatGateways", GET_METRIC_DATA)
    params_type = NatParams

    def candidate(self, r: Resource, now: datetime) -> bool:
        age = age_days(r.created, now)
        return r.attrs.get("state") == "available" and age is not None and age >= self.lookback_days

    def metrics(self, r: Resource) -> list[MetricRequest]:
        dims = [("NatGatewayId", r.id)]
        return [
            self._window_metric("bytes_out", "AWS/NATGateway", "BytesOutToDestination", dims, "Sum"),
            self._window_metric("bytes_in", "AWS/NATGateway", "BytesInFromDestination", dims, "Sum"),
        ]

    def evaluate(self, r: Resource, ctx: Context) -> Verdict | None:
        out, in_ = ctx.series["bytes_out"].total(), ctx.series["bytes_in"].total()
        if out + in_ >= self.params.max_mb * MB:
            return None
        return Verdict(
            reason=f"{(out + in_) / MB:.2f} MB through it in {self.lookback_days} days "
            f"(out {out:,.0f} B, in {in_:,.0f} B)",
            evidence={"bytes_out": out, "bytes_in": in_},
        )

    def monthly_cost(self, r: Resource, ctx: Context) -> float | None:
        return pricing.nat_gateway_monthly(r.region)


@dataclass(frozen=True)
class LoadBalancerParams(MetricParams):
    max_requests: float = 0.0  # requests (application) or new flows (network) over the whole lookback


@register
class IdleLoadBalancer(Rule):
    """Application and network load balancers: no target group, no healthy target, or no requests."""

    name = "elb-idle"
    resource_type = LOAD_BALANCER
    summary = "load balancers with no targets or no requests"
    permissions = (
        "elasticloadbalancing:DescribeLoadBalancers",
        "elasticloadbalancing:DescribeTargetGroups",
        "tag:GetResources",  # the load balancers' tags (the ELB APIs return none)
        GET_METRIC_DATA,
    )
    params_type = LoadBalancerParams

    def candidate(self, r: Resource, now: datetime) -> bool:
        age = age_days(r.created, now)
        return (
            r.attrs.get("lb_type") in ("application", "network")
            and r.attrs.get("state") == "active"
            and age is not None
            and age >= self.lookback_days
        )

    def _namespace(self, r: Resource) -> str:
        return "AWS/ApplicationELB" if r.attrs["lb_type"] == "application" else "AWS/NetworkELB"

    def metrics(self, r: Resource) -> list[MetricRequest]:
        ns, dim = self._namespace(r), ("LoadBalancer", str(r.attrs["dimension"]))
        traffic = "RequestCount" if r.attrs["lb_type"] == "application" else "NewFlowCount"
        requests = [self._window_metric("requests", ns, traffic, [dim], "Sum")]
        healthy = [
            self._window_metric(f"healthy_{i}", ns, "HealthyHostCount", [("TargetGroup", tg), dim], "Maximum")
            for i, tg in enumerate(r.attrs.get("target_groups", ()))
        ]
        return requests + healthy

    def evaluate(self, r: Resource, ctx: Context) -> Verdict | None:
        days = self.lookback_days
        groups = r.attrs.get("target_groups", ())
        if not groups:
            return Verdict(reason="no target groups: it cannot route anything", evidence={"target_groups": 0})
        requests = ctx.series["requests"].total()
        unit = "requests" if r.attrs["lb_type"] == "application" else "new flows"
        if requests <= self.params.max_requests:
            return Verdict(reason=f"{requests:,.0f} {unit} in {days} days", evidence={"requests": requests})
        healthy = [ctx.series[f"healthy_{i}"].peak() for i in range(len(groups))]
        if all(h is None or h == 0 for h in healthy):
            return Verdict(
                reason=f"no healthy registered target in {days} days ({requests:,.0f} {unit} went nowhere)",
                evidence={"requests": requests, "healthy_targets": 0},
            )
        return None

    def monthly_cost(self, r: Resource, ctx: Context) -> float | None:
        return pricing.load_balancer_monthly(r.region, str(r.attrs["lb_type"]))


@register
class IdleClassicElb(Rule):
    name = "elb-classic-idle"
    resource_type = CLASSIC_ELB
    summary = "classic load balancers with no instances or no requests"
    permissions = (
        "elasticloadbalancing:DescribeLoadBalancers",
        "elasticloadbalancing:DescribeTags",  # when the tagging API lists no classic load balancer
        "tag:GetResources",
        GET_METRIC_DATA,
    )
    params_type = LoadBalancerParams

    def candidate(self, r: Resource, now: datetime) -> bool:
        age = age_days(r.created, now)
        return not r.attrs.get("instance_ids") or (age is not None and age >= self.lookback_days)

    def metrics(self, r: Resource) -> list[MetricRequest]:
        if not r.attrs.get("instance_ids"):
            return []  # already decided
        return [self._window_metric("requests", "AWS/ELB", "RequestCount", [("LoadBalancerName", r.id)], "Sum")]

    def evaluate(self, r: Resource, ctx: Context) -> Verdict | None:
        if not r.attrs.get("instance_ids"):
            return Verdict(reason="no registered instances", evidence={"instances": 0})
        requests = ctx.series["requests"].total()
        if requests > self.params.max_requests:
            return None
        return Verdict(reason=f"{requests:,.0f} requests in {self.lookback_days} days", evidence={"requests": requests})

    def monthly_cost(self, r: Resource, ctx: Context) -> float | None:
        return pricing.load_balancer_monthly(r.region, "classic")


# --- RDS ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RdsParams(MetricParams):
    max_connections: float = 0.0  # the highest connection count seen over the lookback
    min_days_with_data: int = 12


@register
class IdleRds(Rule):
    name = "rds-idle"
    resource_type = RDS_INSTANCE
    summary = "RDS instances nobody connects to"
    permissions = ("rds:DescribeDBInstances", GET_METRIC_DATA)
    params_type = RdsParams

    def candidate(self, r: Resource, now: datetime) -> bool:
        age = age_days(r.created, now)
        return r.attrs.get("state") == "available" and age is not None and age >= self.lookback_days

    def metrics(self, r: Resource) -> list[MetricRequest]:
        dims = [("DBInstanceIdentifier", r.name)]
        return [self._window_metric("connections", "AWS/RDS", "DatabaseConnections", dims, "Maximum", daily=True)]

    def evaluate(self, r: Resource, ctx: Context) -> Verdict | None:
        connections = ctx.series["connections"]
        if len(connections.values) < self.params.min_days_with_data:
            return None  # RDS reports this every minute: no data is no evidence
        peak = max(connections.values)
        if peak > self.params.max_connections:
            return None
        return Verdict(
            reason=f"at most {peak:.0f} connections in {self.lookback_days} days",
            evidence={"max_connections": peak},
        )

    def monthly_cost(self, r: Resource, ctx: Context) -> float | None:
        a = r.attrs
        return pricing.rds_instance_monthly(
            r.region,
            str(a["instance_class"]),
            str(a["engine"]),
            multi_az=bool(a.get("multi_az")),
            storage_gb=float(a.get("storage_gb", 0)),
            storage_type=str(a.get("storage_type", "gp2")),
        )


# --- configuration ------------------------------------------------------------------------------------


def _coerce(rule: str, f: dataclasses.Field[Any], raw: object) -> int | float:
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise RuleConfigError(f"costguard: threshold {rule}.{f.name} must be a number (got {raw!r})")
    try:
        value: int | float = int(raw) if kind == "int" else float(raw)
    except ValueError:
        raise RuleConfigError(f"costguard: threshold {rule}.{f.name} must be a {kind} (got {raw!r})") from None
    if value < 0:
        raise RuleConfigError(f"costguard: threshold {rule}.{f.name} must be >= 0 (got {raw!r})")
    return value


def params_for(cls: type[Rule], overrides: Mapping[str, object]) -> Params:
    fields = {f.name: f for f in dataclasses.fields(cls.params_type)}
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        allowed = ", ".join(sorted(fields)) or "none"
        raise RuleConfigError(f"costguard: rule {cls.name!r} has no threshold {', '.join(unknown)} (has: {allowed})")
    values = {k: _coerce(cls.name, fields[k], v) for k, v in overrides.items()}
    if "lookback_days" in values and not 1 <= values["lookback_days"] <= 62:
        raise RuleConfigError(f"costguard: {cls.name}.lookback_days must be 1..62 (got {values['lookback_days']})")
    return cls.params_type(**values)


def build_rules(
    enabled: Iterable[str] | None = None, thresholds: Mapping[str, Mapping[str, object]] | None = None
) -> list[Rule]:
    """The enabled rules (all when None) with their thresholds; unknown names fail with the known ones."""
    names = list(REGISTRY) if enabled is None else list(dict.fromkeys(enabled))
    thresholds = thresholds or {}
    unknown = sorted((set(names) | set(thresholds)) - set(REGISTRY))
    if unknown:
        raise RuleConfigError(f"costguard: unknown rule(s) {', '.join(unknown)}; known: {', '.join(REGISTRY)}")
    return [REGISTRY[n](params_for(REGISTRY[n], thresholds.get(n, {}))) for n in names]


def required_permissions(rules: Iterable[Rule], *, tagging: bool) -> list[str]:
    """Every IAM action the sweep needs for these rules (read; and tagging when it applies tags)."""
    actions = set(SWEEP_PERMISSIONS)
    for rule in rules:
        actions.update(rule.permissions)
        if tagging:
            actions.update(TAG_PERMISSIONS[rule.resource_type])
    return sorted(actions)
