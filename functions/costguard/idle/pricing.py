"""The price table the project keeps, and the monthly figures rules put on findings.

Source: the public on-demand prices on aws.amazon.com (EC2 "On-Demand Pricing", Linux, shared tenancy;
"Amazon EBS pricing"; "VPC pricing" for NAT gateways and public IPv4; "Elastic Load Balancing pricing";
"Amazon RDS for MySQL/PostgreSQL pricing", Single-AZ), transcribed by hand as of PRICES_AS_OF. Hourly
fees only: usage charges (data processed, LCUs, I/O requests) are not estimated. Whatever is not in
the table is unknown and shown as unknown, never as $0. Refresh the table by re-reading those pages.
"""

from __future__ import annotations

from collections.abc import Mapping

PRICES_AS_OF = "2025-05-01"
PRICES_SOURCE = "aws.amazon.com on-demand pricing pages (EC2, EBS, VPC, ELB, RDS)"
HOURS_PER_MONTH = 730

# EC2 Linux on-demand, USD per hour.
_EC2_US = {
    "t2.nano": 0.0058, "t2.micro": 0.0116, "t2.small": 0.023, "t2.medium": 0.0464, "t2.large": 0.0928,
    "t2.xlarge": 0.1856, "t2.2xlarge": 0.3712,
    "t3.nano": 0.0052, "t3.micro": 0.0104, "t3.small": 0.0208, "t3.medium": 0.0416, "t3.large": 0.0832,
    "t3.xlarge": 0.1664, "t3.2xlarge": 0.3328,
    "t3a.micro": 0.0094, "t3a.small": 0.0188, "t3a.medium": 0.0376, "t3a.large": 0.0752,
    "t4g.nano": 0.0042, "t4g.micro": 0.0084, "t4g.small": 0.0168, "t4g.medium": 0.0336, "t4g.large": 0.0672,
    "m4.large": 0.10, "m4.xlarge": 0.20,
    "m5.large": 0.096, "m5.xlarge": 0.192, "m5.2xlarge": 0.384, "m5.4xlarge": 0.768,
    "m6i.large": 0.096, "m6i.xlarge": 0.192, "m6i.2xlarge": 0.384,
    "m6g.large": 0.077, "m6g.xlarge": 0.154, "m7g.large": 0.0816, "m7g.xlarge": 0.1632,
    "c5.large": 0.085, "c5.xlarge": 0.17, "c5.2xlarge": 0.34, "c6i.large": 0.085, "c6i.xlarge": 0.17,
    "c6g.large": 0.068, "c6g.xlarge": 0.136,
    "r5.large": 0.126, "r5.xlarge": 0.252, "r6i.large": 0.126, "r6g.large": 0.1008,
}  # fmt: skip
_EC2_EU_WEST_1 = {
    "t2.micro": 0.0126, "t2.small": 0.025, "t2.medium": 0.05,
    "t3.nano": 0.0057, "t3.micro": 0.0114, "t3.small": 0.0228, "t3.medium": 0.0456, "t3.large": 0.0912,
    "t3.xlarge": 0.1824, "t4g.micro": 0.0092, "t4g.small": 0.0184, "t4g.medium": 0.0368,
    "m5.large": 0.107, "m5.xlarge": 0.214, "m5.2xlarge": 0.428, "m6i.large": 0.107, "m6g.large": 0.086,
    "c5.large": 0.096, "c5.xlarge": 0.192, "c6i.large": 0.096, "r5.large": 0.141, "r6i.large": 0.141,
}  # fmt: skip
_EC2_EU_CENTRAL_1 = {
    "t2.micro": 0.0134, "t3.micro": 0.012, "t3.small": 0.024, "t3.medium": 0.048, "t3.large": 0.096,
    "t4g.micro": 0.0096, "m5.large": 0.115, "m5.xlarge": 0.23, "m6i.large": 0.115, "c5.large": 0.097,
    "r5.large": 0.152,
}  # fmt: skip

# EBS, USD per GB-month (volumes, snapshots) and per provisioned IOPS / MiB/s-month.
_EBS_US = {
    "gp2": 0.10, "gp3": 0.08, "io1": 0.125, "io2": 0.125, "st1": 0.045, "sc1": 0.015, "standard": 0.05,
    "gp3_iops": 0.005, "gp3_throughput": 0.04, "io1_iops": 0.065, "io2_iops": 0.065, "snapshot": 0.05,
}  # fmt: skip
_EBS_EU_WEST_1 = {
    "gp2": 0.11, "gp3": 0.088, "io1": 0.138, "io2": 0.138, "st1": 0.05, "sc1": 0.0168, "standard": 0.055,
    "gp3_iops": 0.0055, "gp3_throughput": 0.044, "io1_iops": 0.072, "io2_iops": 0.072, "snapshot": 0.05,
}  # fmt: skip
_EBS_EU_CENTRAL_1 = {
    "gp2": 0.119, "gp3": 0.0952, "io1": 0.149, "io2": 0.149, "st1": 0.054, "sc1": 0.018, "standard": 0.059,
    "gp3_iops": 0.006, "gp3_throughput": 0.048, "io1_iops": 0.078, "io2_iops": 0.078, "snapshot": 0.054,
}  # fmt: skip

# RDS Single-AZ on-demand, USD per hour, by engine family; storage USD per GB-month.
_RDS_US = {
    "mysql": {
        "db.t3.micro": 0.017, "db.t3.small": 0.034, "db.t3.medium": 0.068, "db.t3.large": 0.136,
        "db.t4g.micro": 0.016, "db.t4g.small": 0.032, "db.t4g.medium": 0.065,
        "db.m5.large": 0.171, "db.m5.xlarge": 0.342, "db.m6g.large": 0.152, "db.r5.large": 0.25, "db.r6g.large": 0.225,
    },
    "postgres": {
        "db.t3.micro": 0.018, "db.t3.small": 0.036, "db.t3.medium": 0.072, "db.t4g.micro": 0.016,
        "db.t4g.small": 0.032, "db.t4g.medium": 0.065, "db.m5.large": 0.178, "db.m6g.large": 0.159, "db.r5.large": 0.25,
    },
    "storage": {"gp2": 0.115, "gp3": 0.115, "standard": 0.10, "io1": 0.125},
}  # fmt: skip
_RDS_EU_WEST_1 = {
    "mysql": {
        "db.t3.micro": 0.018, "db.t3.small": 0.036, "db.t3.medium": 0.072, "db.m5.large": 0.19, "db.r5.large": 0.28,
    },
    "postgres": {"db.t3.micro": 0.019, "db.t3.small": 0.038, "db.t3.medium": 0.076, "db.m5.large": 0.198},
    "storage": {"gp2": 0.127, "gp3": 0.127, "io1": 0.138},
}  # fmt: skip

_US = {
    "ec2": _EC2_US, "ebs": _EBS_US, "rds": _RDS_US,
    "eip": 0.005, "nat": 0.045, "application": 0.0225, "network": 0.0225, "classic": 0.025,
}  # fmt: skip
PRICES: Mapping[str, Mapping[str, object]] = {
    "us-east-1": _US,
    "us-east-2": _US,
    "us-west-2": _US,
    "eu-west-1": {
        "ec2": _EC2_EU_WEST_1, "ebs": _EBS_EU_WEST_1, "rds": _RDS_EU_WEST_1,
        "eip": 0.005, "nat": 0.048, "application": 0.0252, "network": 0.0252, "classic": 0.028,
    },
    "eu-central-1": {
        "ec2": _EC2_EU_CENTRAL_1, "ebs": _EBS_EU_CENTRAL_1,
        "eip": 0.005, "nat": 0.052, "application": 0.027, "network": 0.027, "classic": 0.03,
    },
}  # fmt: skip
RDS_ENGINE_FAMILY = {"mysql": "mysql", "mariadb": "mysql", "postgres": "postgres"}


def _table(region: str, name: str) -> Mapping[str, float] | None:
    table = PRICES.get(region, {}).get(name)
    return table if isinstance(table, Mapping) else None


def _hourly(region: str, name: str) -> float | None:
    value = PRICES.get(region, {}).get(name)
    return float(value) if isinstance(value, int | float) else None


def _monthly(hourly: float | None) -> float | None:
    return None if hourly is None else hourly * HOURS_PER_MONTH


def ec2_instance_monthly(region: str, instance_type: str) -> float | None:
    table = _table(region, "ec2")
    return _monthly(table.get(instance_type)) if table else None


def ebs_volume_monthly(
    region: str, volume_type: str, size_gb: float, iops: float | None = None, throughput: float | None = None
) -> float | None:
    """Storage plus provisioned performance: gp3 above its free 3000 IOPS / 125 MiB/s, io1/io2 per IOPS."""
    table = _table(region, "ebs")
    if table is None or volume_type not in table:
        return None
    cost = table[volume_type] * size_gb
    if volume_type == "gp3":
        cost += max(0.0, (iops or 3000) - 3000) * table["gp3_iops"]
        cost += max(0.0, (throughput or 125) - 125) * table["gp3_throughput"]
    elif volume_type in ("io1", "io2"):
        cost += (iops or 0) * table[f"{volume_type}_iops"]
    return cost


def gp2_as_gp3(size_gb: float) -> tuple[float, float]:
    """(IOPS, MiB/s) a gp3 volume needs to sustain what this gp2 volume sustains: 3 IOPS/GiB (burst to
    3000 below 1 TiB), and 250 MiB/s from 334 GiB (smaller gp2 volumes reach it only on burst credits)."""
    iops = min(16000.0, max(3000.0, 3.0 * size_gb))
    throughput = 250.0 if size_gb >= 334 else 125.0
    return iops, throughput


def gp3_saving_monthly(region: str, size_gb: float) -> float | None:
    gp2 = ebs_volume_monthly(region, "gp2", size_gb)
    iops, throughput = gp2_as_gp3(size_gb)
    gp3 = ebs_volume_monthly(region, "gp3", size_gb, iops, throughput)
    return None if gp2 is None or gp3 is None else gp2 - gp3


def snapshot_monthly(region: str, size_gb: float) -> float | None:
    """An upper bound: snapshots are incremental, the volume size is the most one can bill."""
    table = _table(region, "ebs")
    return table["snapshot"] * size_gb if table and "snapshot" in table else None


def elastic_ip_monthly(region: str) -> float | None:
    return _monthly(_hourly(region, "eip"))


def nat_gateway_monthly(region: str) -> float | None:
    return _monthly(_hourly(region, "nat"))


def load_balancer_monthly(region: str, kind: str) -> float | None:
    """kind: application | network | classic (the hourly fee; LCUs are usage and nil when idle)."""
    return _monthly(_hourly(region, kind))


def rds_instance_monthly(
    region: str, instance_class: str, engine: str, *, multi_az: bool, storage_gb: float, storage_type: str
) -> float | None:
    table = PRICES.get(region, {}).get("rds")
    family = RDS_ENGINE_FAMILY.get(engine)
    if not isinstance(table, Mapping) or family is None:
        return None
    hourly = table.get(family, {}).get(instance_class)
    storage = table.get("storage", {}).get(storage_type)
    if hourly is None or storage is None:
        return None
    copies = 2 if multi_az else 1
    return float(copies * (hourly * HOURS_PER_MONTH + storage * storage_gb))


def add(*amounts: float | None) -> float | None:
    """A sum that stays unknown when any part is unknown."""
    if any(a is None for a in amounts):
        return None
    return float(sum(a for a in amounts if a is not None))
