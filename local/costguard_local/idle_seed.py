"""Seed moto with idle and busy resources for the idle sweep: created through the real APIs (boto3 over
HTTP), aged in moto's in-process backends (the API cannot set launch, create or stop times), and given
CloudWatch series shaped like real ones: NAB's realAWSCloudwatch recordings, resampled and scaled.

Only what the rules read is seeded (moto's GetMetricData scans every stored datapoint per query).
"""

from __future__ import annotations

import csv
import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ACCOUNT = "123456789012"  # moto's default account
# The four NAB recordings used ship with the project (data/nab, MIT, with NAB's licence).
AWS_SERIES = Path(os.environ.get("COSTGUARD_NAB_DIR", Path(__file__).resolve().parent / "data" / "nab"))

# The recordings that give each twin its shape (5-minute CloudWatch samples over 14 days).
IDLE_CPU = "ec2_cpu_utilization_c6585a.csv"  # flat, ~0.07 %, max 1.6 %
BURSTY_CPU = "ec2_cpu_utilization_77c1ca.csv"  # median 0.1 % but daily peaks near 100 %
BUSY_NETWORK = "ec2_network_in_257a54.csv"  # bytes per 5 minutes, ~160 MB/day
RDS_CPU = "rds_cpu_utilization_cc0c53.csv"  # a working database's load, used for its connection count

_id_counter = itertools.count(1)


def load_series(name: str) -> list[float]:
    with (AWS_SERIES / name).open(newline="", encoding="utf-8") as f:
        return [float(row["value"]) for row in csv.DictReader(f)]


def resample(values: Sequence[float], buckets: int, how: str = "mean") -> list[float]:
    """`buckets` consecutive groups of the series (the first buckets * (len // buckets) samples)."""
    size = len(values) // buckets
    groups = [values[i * size : (i + 1) * size] for i in range(buckets)]
    if how == "sum":
        return [float(sum(g)) for g in groups]
    if how == "max":
        return [max(g) for g in groups]
    return [sum(g) / len(g) for g in groups]


@dataclass
class Shape:
    """Hourly values (len = 24 * days) with the aggregates a daily-seeded series needs."""

    hourly: list[float]

    def daily(self) -> list[dict[str, float]]:
        days = len(self.hourly) // 24
        out = []
        for d in range(days):
            h = self.hourly[d * 24 : (d + 1) * 24]
            out.append({"Sum": sum(h), "Minimum": min(h), "Maximum": max(h), "SampleCount": float(len(h))})
        return out


def shape(name: str, days: int = 14, scale: float = 1.0, how: str = "mean") -> Shape:
    values = load_series(name)
    return Shape([v * scale for v in resample(values, 24 * days, how)])


def constant(value: float, days: int = 14) -> Shape:
    return Shape([value] * (24 * days))


@dataclass
class IdleSeeder:
    """Creates resources in moto's server and ages them in its backends (same process)."""

    endpoint: str
    now: datetime
    days: int = 14
    hourly: bool = True  # hourly datapoints (tests); False: one aggregated datapoint a day (benchmark)
    window_metrics: frozenset[str] = frozenset()  # with hourly=False: one datapoint for the whole window
    clients: dict[tuple[str, str], Any] = field(default_factory=dict)
    _vpcs: dict[str, tuple[str, str]] = field(default_factory=dict)
    _metrics: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)

    def client(self, service: str, region: str) -> Any:
        import boto3
        from botocore.config import Config

        key = (service, region)
        if key not in self.clients:
            self.clients[key] = boto3.client(  # type: ignore[call-overload]
                service,
                region_name=region,
                endpoint_url=self.endpoint,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                config=Config(retries={"mode": "standard", "total_max_attempts": 10}),
            )
        return self.clients[key]

    # --- metrics ----------------------------------------------------------------------------------

    def metric(self, region: str, namespace: str, name: str, dims: dict[str, str], s: Shape) -> None:
        """Queue the series ending at midnight before `now`; flush() sends them in PutMetricData batches."""
        end = self.now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start = end - timedelta(days=self.days)
        dimensions = [{"Name": k, "Value": v} for k, v in dims.items()]
        data = self._metrics.setdefault((region, namespace), [])
        if self.hourly:
            for h, v in enumerate(s.hourly[: 24 * self.days]):
                ts = start + timedelta(hours=h, minutes=30)
                data.append({"MetricName": name, "Dimensions": dimensions, "Timestamp": ts, "Value": v})
        elif name in self.window_metrics:
            days = s.daily()[: self.days]
            stats = {
                "Sum": sum(d["Sum"] for d in days),
                "Minimum": min(d["Minimum"] for d in days),
                "Maximum": max(d["Maximum"] for d in days),
                "SampleCount": sum(d["SampleCount"] for d in days),
            }
            data.append(
                {
                    "MetricName": name,
                    "Dimensions": dimensions,
                    "Timestamp": start + timedelta(days=self.days / 2),
                    "StatisticValues": stats,
                }
            )
        else:
            for d, stats in enumerate(s.daily()[: self.days]):
                ts = start + timedelta(days=d, hours=12)
                data.append({"MetricName": name, "Dimensions": dimensions, "Timestamp": ts, "StatisticValues": stats})

    def flush(self) -> None:
        for (region, namespace), data in self._metrics.items():
            cw = self.client("cloudwatch", region)
            for i in range(0, len(data), 1000):
                cw.put_metric_data(Namespace=namespace, MetricData=data[i : i + 1000])
        self._metrics.clear()

    # --- plumbing ---------------------------------------------------------------------------------

    def network(self, region: str) -> tuple[str, str]:
        """(vpc id, subnet id) of a VPC made for the seed."""
        if region not in self._vpcs:
            ec2 = self.client("ec2", region)
            vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
            subnets = [
                ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{16 * i}.0/20", AvailabilityZone=f"{region}{az}")[
                    "Subnet"
                ]["SubnetId"]
                for i, az in enumerate("ab")
            ]
            self._vpcs[region] = (vpc, subnets[0])
            self._vpcs[region + "#b"] = (vpc, subnets[1])
        return self._vpcs[region]

    def _ago(self, days: float) -> datetime:
        return self.now - timedelta(days=days)

    @staticmethod
    def _tags(tags: dict[str, str] | None) -> list[dict[str, str]]:
        return [{"Key": k, "Value": v} for k, v in (tags or {}).items()]

    # --- EC2 --------------------------------------------------------------------------------------

    def instance(
        self,
        region: str,
        *,
        instance_type: str = "t3.micro",
        age_days: float = 30,
        stopped_days: float | None = None,
        tags: dict[str, str] | None = None,
        volume_gib: int = 20,
    ) -> str:
        from moto.ec2.models import ec2_backends

        ec2 = self.client("ec2", region)
        _, subnet = self.network(region)
        spec: dict[str, Any] = {
            "ImageId": "ami-12c6146b",
            "MinCount": 1,
            "MaxCount": 1,
            "InstanceType": instance_type,
            "SubnetId": subnet,
            "BlockDeviceMappings": [
                {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": volume_gib, "VolumeType": "gp3"}}
            ],
        }
        if tags:
            spec["TagSpecifications"] = [{"ResourceType": "instance", "Tags": self._tags(tags)}]
        instance_id: str = ec2.run_instances(**spec)["Instances"][0]["InstanceId"]
        backend = ec2_backends[ACCOUNT][region]
        instance = backend.get_instance(instance_id)
        instance.launch_time = self._ago(age_days)
        if stopped_days is not None:
            ec2.stop_instances(InstanceIds=[instance_id])
            stopped = self._ago(stopped_days)
            instance._reason = f"User initiated ({stopped.strftime('%Y-%m-%d %H:%M:%S')} GMT)"
        return instance_id

    def instance_metrics(
        self, region: str, instance_id: str, cpu: Shape, network_in: Shape, network_out: Shape
    ) -> None:
        dims = {"InstanceId": instance_id}
        self.metric(region, "AWS/EC2", "CPUUtilization", dims, cpu)
        self.metric(region, "AWS/EC2", "NetworkIn", dims, network_in)
        self.metric(region, "AWS/EC2", "NetworkOut", dims, network_out)

    def volume(
        self,
        region: str,
        *,
        size: int = 100,
        volume_type: str = "gp3",
        age_days: float = 30,
        tags: dict[str, str] | None = None,
    ) -> str:
        from moto.ec2.models import ec2_backends

        spec: dict[str, Any] = {"AvailabilityZone": f"{region}a", "Size": size, "VolumeType": volume_type}
        if tags:
            spec["TagSpecifications"] = [{"ResourceType": "volume", "Tags": self._tags(tags)}]
        volume_id: str = self.client("ec2", region).create_volume(**spec)["VolumeId"]
        ec2_backends[ACCOUNT][region].volumes[volume_id].create_time = self._ago(age_days)
        return volume_id

    def attach(self, region: str, volume_id: str, instance_id: str, device: str = "/dev/sdf") -> None:
        self.client("ec2", region).attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device=device)

    def snapshot(self, region: str, *, age_days: float, size: int = 50, with_ami: bool = False) -> str:
        """An old snapshot; with_ami: the one backing a registered AMI (moto makes it for the image)."""
        from moto.ec2.models import ec2_backends

        ec2 = self.client("ec2", region)
        if with_ami:
            image = ec2.register_image(Name=f"image-{next(_id_counter)}", RootDeviceName="/dev/xvda")["ImageId"]
            [described] = ec2.describe_images(ImageIds=[image])["Images"]
            snapshot_id: str = described["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
        else:
            volume = self.volume(region, size=size)
            snapshot_id = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
            ec2.delete_volume(VolumeId=volume)
        ec2_backends[ACCOUNT][region].snapshots[snapshot_id].start_time = self._ago(age_days)
        return snapshot_id

    def address(self, region: str, *, associate_with: str | None = None) -> str:
        ec2 = self.client("ec2", region)
        allocation: str = ec2.allocate_address(Domain="vpc")["AllocationId"]
        if associate_with:
            ec2.associate_address(AllocationId=allocation, InstanceId=associate_with)
        return allocation

    def nat_gateway(self, region: str, *, age_days: float = 30, traffic: Shape | None = None) -> str:
        from moto.ec2.models import ec2_backends

        ec2 = self.client("ec2", region)
        _, subnet = self.network(region)
        allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
        nat: str = ec2.create_nat_gateway(SubnetId=subnet, AllocationId=allocation)["NatGateway"]["NatGatewayId"]
        ec2_backends[ACCOUNT][region].nat_gateways[nat]._created_at = self._ago(age_days)
        if traffic is not None:
            dims = {"NatGatewayId": nat}
            self.metric(region, "AWS/NATGateway", "BytesOutToDestination", dims, traffic)
            self.metric(
                region, "AWS/NATGateway", "BytesInFromDestination", dims, Shape([v * 4 for v in traffic.hourly])
            )
        return nat

    # --- load balancers -----------------------------------------------------------------------------

    def load_balancer(
        self,
        region: str,
        *,
        age_days: float = 30,
        requests: Shape | None = None,
        healthy: Shape | None = None,
        target_group: bool = True,
        lb_type: str = "application",
    ) -> str:
        from moto.elbv2.models import elbv2_backends

        elbv2 = self.client("elbv2", region)
        vpc, subnet_a = self.network(region)
        _, subnet_b = self._vpcs[region + "#b"]
        n = next(_id_counter)
        arn: str = elbv2.create_load_balancer(Name=f"lb-{n}", Subnets=[subnet_a, subnet_b], Type=lb_type)[
            "LoadBalancers"
        ][0]["LoadBalancerArn"]
        elbv2_backends[ACCOUNT][region].load_balancers[arn].created_time = self._ago(age_days).isoformat()
        dim = {"LoadBalancer": arn.split(":loadbalancer/", 1)[1]}
        namespace = "AWS/ApplicationELB" if lb_type == "application" else "AWS/NetworkELB"
        if target_group:
            protocol = "HTTP" if lb_type == "application" else "TCP"
            tg = elbv2.create_target_group(Name=f"tg-{n}", Protocol=protocol, Port=80, VpcId=vpc)["TargetGroups"][0]
            elbv2.create_listener(
                LoadBalancerArn=arn,
                Protocol=protocol,
                Port=80,
                DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}],
            )
            if healthy is not None:
                tg_dim = {"TargetGroup": tg["TargetGroupArn"].split(":", 5)[-1], **dim}
                self.metric(region, namespace, "HealthyHostCount", tg_dim, healthy)
        if requests is not None:
            metric = "RequestCount" if lb_type == "application" else "NewFlowCount"
            self.metric(region, namespace, metric, dim, requests)
        return arn

    def classic_elb(
        self, region: str, *, age_days: float = 30, instances: Sequence[str] = (), requests: Shape | None = None
    ) -> str:
        from moto.elb.models import elb_backends

        elb = self.client("elb", region)
        name = f"clb-{next(_id_counter)}"
        elb.create_load_balancer(
            LoadBalancerName=name,
            Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 80}],
            AvailabilityZones=[f"{region}a"],
        )
        if instances:
            elb.register_instances_with_load_balancer(
                LoadBalancerName=name, Instances=[{"InstanceId": i} for i in instances]
            )
        elb_backends[ACCOUNT][region].load_balancers[name].created_time = self._ago(age_days)
        if requests is not None:
            self.metric(region, "AWS/ELB", "RequestCount", {"LoadBalancerName": name}, requests)
        return name

    # --- RDS --------------------------------------------------------------------------------------

    def db_instance(
        self,
        region: str,
        *,
        age_days: float = 30,
        connections: Shape | None = None,
        instance_class: str = "db.t3.micro",
    ) -> str:
        from moto.rds.models import rds_backends

        rds = self.client("rds", region)
        name = f"db-{next(_id_counter)}"
        arn: str = rds.create_db_instance(
            DBInstanceIdentifier=name,
            DBInstanceClass=instance_class,
            Engine="postgres",
            AllocatedStorage=20,
            MasterUsername="admin",
            MasterUserPassword="not-a-secret-1",
        )["DBInstance"]["DBInstanceArn"]
        db = rds_backends[ACCOUNT][region].databases[name]
        db.created = db.instance_create_time = self._ago(age_days)
        if connections is not None:
            self.metric(region, "AWS/RDS", "DatabaseConnections", {"DBInstanceIdentifier": name}, connections)
        return arn


def connections_from_load(s: Shape, per_pct: float = 2.0) -> Shape:
    """A connection count that follows a database's CPU load (NAB's RDS recording)."""
    return Shape([round(v * per_pct) for v in s.hourly])


Key = tuple[str, str, str]  # (rule, region, resource id)


@dataclass
class Twins:
    """What seed_twins made: the idle set a correct sweep reports exactly, and the busy twins."""

    idle: set[Key] = field(default_factory=set)
    busy: set[Key] = field(default_factory=set)
    ids: dict[str, str] = field(default_factory=dict)  # "<region>/<label>" -> resource id


def seed_twins(s: IdleSeeder, regions: Sequence[str]) -> Twins:
    """For every rule, in every region, at least one idle resource and a busy twin that must not be found.

    The second region gets the harder twins: a bursty instance scaled so its average CPU is under the
    threshold (only its peaks show it works), and the other idle variants of the load balancer rules."""
    t = Twins()
    low_net = shape(BUSY_NETWORK, scale=0.004, how="sum")  # ~0.7 MB/day
    busy_net = shape(BUSY_NETWORK, how="sum")  # ~160 MB/day
    requests = shape(BUSY_NETWORK, scale=1e-4, how="sum")  # thousands of requests a day
    for n, region in enumerate(regions):
        second = n % 2 == 1

        def add(kind: set[Key], rule: str, label: str, rid: str, region: str = region) -> str:
            kind.add((rule, region, rid))
            t.ids[f"{region}/{label}"] = rid
            return rid

        # ec2-idle
        idle = add(t.idle, "ec2-idle", "idle-instance", s.instance(region, age_days=40))
        s.instance_metrics(region, idle, shape(IDLE_CPU), low_net, low_net)
        busy = add(t.busy, "ec2-idle", "busy-instance", s.instance(region, age_days=40, instance_type="m5.large"))
        s.instance_metrics(region, busy, shape(BURSTY_CPU, scale=0.15 if second else 1.0), low_net, low_net)
        if second:  # quiet CPU, real traffic: not idle
            chatty = add(t.busy, "ec2-idle", "chatty-instance", s.instance(region, age_days=40))
            s.instance_metrics(region, chatty, shape(IDLE_CPU), busy_net, busy_net)
        # ec2-stopped
        add(t.idle, "ec2-stopped", "long-stopped", s.instance(region, age_days=90, stopped_days=45))
        add(t.busy, "ec2-stopped", "just-stopped", s.instance(region, age_days=90, stopped_days=3))
        # ebs-unattached
        add(t.idle, "ebs-unattached", "loose-volume", s.volume(region, age_days=30))
        attached = add(t.busy, "ebs-unattached", "attached-volume", s.volume(region, age_days=30))
        s.attach(region, attached, busy, "/dev/sdf")
        add(t.busy, "ebs-unattached", "new-volume", s.volume(region, age_days=2))
        # ebs-gp2-to-gp3 (attached, so it is not also unattached)
        gp2 = add(t.idle, "ebs-gp2-to-gp3", "gp2-volume", s.volume(region, volume_type="gp2", size=200))
        s.attach(region, gp2, busy, "/dev/sdg")
        gp3 = add(t.busy, "ebs-gp2-to-gp3", "gp3-volume", s.volume(region, volume_type="gp3", size=200))
        s.attach(region, gp3, busy, "/dev/sdh")
        # ebs-snapshot-old
        add(t.idle, "ebs-snapshot-old", "old-snapshot", s.snapshot(region, age_days=200))
        add(t.busy, "ebs-snapshot-old", "ami-snapshot", s.snapshot(region, age_days=200, with_ami=True))
        add(t.busy, "ebs-snapshot-old", "young-snapshot", s.snapshot(region, age_days=10))
        # eip-unassociated
        add(t.idle, "eip-unassociated", "loose-eip", s.address(region))
        add(t.busy, "eip-unassociated", "used-eip", s.address(region, associate_with=busy))
        # nat-idle
        add(t.idle, "nat-idle", "quiet-nat", s.nat_gateway(region))
        add(t.busy, "nat-idle", "busy-nat", s.nat_gateway(region, traffic=busy_net))
        # elb-idle
        if second:
            add(t.idle, "elb-idle", "lb-no-target-group", s.load_balancer(region, target_group=False))
            add(t.idle, "elb-idle", "lb-no-healthy", s.load_balancer(region, requests=requests, healthy=constant(0)))
        else:
            add(t.idle, "elb-idle", "lb-no-requests", s.load_balancer(region, healthy=constant(2)))
        add(t.busy, "elb-idle", "busy-lb", s.load_balancer(region, requests=requests, healthy=constant(2)))
        # elb-classic-idle
        if second:
            add(t.idle, "elb-classic-idle", "clb-no-requests", s.classic_elb(region, instances=[busy]))
        else:
            add(t.idle, "elb-classic-idle", "clb-empty", s.classic_elb(region))
        add(t.busy, "elb-classic-idle", "busy-clb", s.classic_elb(region, instances=[busy], requests=requests))
        # rds-idle
        add(t.idle, "rds-idle", "quiet-db", s.db_instance(region, connections=constant(0)))
        add(t.busy, "rds-idle", "busy-db", s.db_instance(region, connections=connections_from_load(shape(RDS_CPU))))
    s.flush()
    return t
