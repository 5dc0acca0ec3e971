"""Idle-sweep benchmark: costguard scan vs Cloud Custodian on the same moto account.

Seeds a few thousand resources in moto (its own in-process ThreadedMotoServer, daily CloudWatch
datapoints for what the rules read), then runs

  * `costguard scan` (this repo's CLI, dry run), and
  * `custodian run --dryrun` with equivalent policies (its `metrics` filter for CloudWatch),
    installed into its own venv (default /tmp/c7n-venv, created on first use),

both as subprocesses against the same server through a CountingProxy, which counts API calls per
operation at the wire. Prints API calls per 1,000 resources, wall time, findings, and the ratios.

    .venv/bin/python bench/idle/run.py [--resources 3000] [--regions us-east-1,us-west-2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "functions"), str(REPO / "local")]

C7N_VERSION = "c7n==0.9.53"
DAY = 86400

# Share of the resources of each kind (per region); about 40 % of them are idle by construction.
MIX = {
    "volume": 0.30,
    "snapshot": 0.20,
    "eip": 0.10,
    "running": 0.16,
    "stopped": 0.06,
    "nat": 0.04,
    "alb": 0.05,
    "clb": 0.04,
    "rds": 0.05,
}

POLICIES = """
policies:
  - name: ec2-idle
    resource: aws.ec2
    filters:
      - "State.Name": running
      - {type: value, key: LaunchTime, value_type: age, value: 14, op: ge}
      - {type: metrics, name: CPUUtilization, statistics: Average, days: 14, value: 2, op: less-than}
      - {type: metrics, name: CPUUtilization, statistics: Maximum, days: 14, value: 10, op: less-than}
      - {type: metrics, name: NetworkIn, statistics: Sum, days: 14, value: 35000000, op: less-than}
      - {type: metrics, name: NetworkOut, statistics: Sum, days: 14, value: 35000000, op: less-than}
  - name: ec2-stopped
    resource: aws.ec2
    filters:
      - "State.Name": stopped
      - {type: state-age, days: 30, op: ge}
  - name: ebs-unattached
    resource: aws.ebs
    filters:
      - State: available
      - {type: value, key: CreateTime, value_type: age, value: 7, op: ge}
  - name: ebs-gp2-to-gp3
    resource: aws.ebs
    filters:
      - VolumeType: gp2
  - name: ebs-snapshot-old
    resource: aws.ebs-snapshot
    filters:
      - {type: age, days: 90, op: ge}
      - {type: skip-ami-snapshots, value: true}
  - name: eip-unassociated
    resource: aws.network-addr
    filters:
      - AssociationId: absent
  - name: nat-idle
    resource: aws.nat-gateway
    filters:
      - State: available
      - {type: metrics, name: BytesOutToDestination, statistics: Sum, days: 14, value: 500000,
         op: less-than, missing-value: 0}
      - {type: metrics, name: BytesInFromDestination, statistics: Sum, days: 14, value: 500000,
         op: less-than, missing-value: 0}
  - name: elb-idle
    resource: aws.app-elb
    filters:
      - {type: metrics, name: RequestCount, statistics: Sum, days: 14, value: 1, op: less-than, missing-value: 0}
  - name: elb-classic-idle
    resource: aws.elb
    filters:
      - or:
          - Instances: []
          - {type: metrics, name: RequestCount, statistics: Sum, days: 14, value: 1, op: less-than,
             missing-value: 0}
  - name: rds-idle
    resource: aws.rds
    filters:
      - {type: metrics, name: DatabaseConnections, statistics: Maximum, days: 14, value: 1, op: less-than}
"""


@dataclass
class Run:
    tool: str
    seconds: float
    calls: Counter[str]
    findings: int
    cloudwatch_seconds: float = 0.0  # time moto spent answering GetMetricData / GetMetricStatistics

    @property
    def total(self) -> int:
        return sum(self.calls.values())


def seed(endpoint: str, regions: list[str], total: int, now: datetime) -> int:
    """Create `total` resources across the regions; returns how many were created."""
    from costguard_local.idle_seed import (
        BURSTY_CPU,
        BUSY_NETWORK,
        IDLE_CPU,
        RDS_CPU,
        IdleSeeder,
        connections_from_load,
        constant,
        shape,
    )

    # Daily datapoints; series the rules (and the Custodian policies) read only as 14-day totals are one
    # datapoint for the window: moto answers metric reads by scanning every stored datapoint.
    window_only = {"NetworkIn", "NetworkOut", "BytesOutToDestination", "BytesInFromDestination"}
    window_only |= {"RequestCount", "NewFlowCount", "HealthyHostCount"}
    s = IdleSeeder(endpoint, now, hourly=False, window_metrics=frozenset(window_only))
    idle_cpu, busy_cpu = shape(IDLE_CPU), shape(BURSTY_CPU)
    low_net, busy_net = shape(BUSY_NETWORK, scale=0.004, how="sum"), shape(BUSY_NETWORK, how="sum")
    requests = shape(BUSY_NETWORK, scale=1e-4, how="sum")
    busy_db = connections_from_load(shape(RDS_CPU))
    created = 0
    per_region = total // len(regions)
    for region in regions:
        counts = {k: max(1, round(per_region * share)) for k, share in MIX.items()}
        anchor = s.instance(region, age_days=60)  # the busy twins attach to it
        created += 1
        for i in range(counts["running"]):
            idle = i % 2 == 0
            iid = s.instance(region, age_days=40)
            s.instance_metrics(region, iid, idle_cpu if idle else busy_cpu, low_net, low_net if idle else busy_net)
        for i in range(counts["stopped"]):
            s.instance(region, age_days=90, stopped_days=45 if i % 2 == 0 else 3)
        for i in range(counts["volume"]):
            vid = s.volume(region, age_days=30, volume_type="gp2" if i % 4 == 0 else "gp3", size=50)
            if i % 3 == 0:
                s.attach(region, vid, anchor, f"/dev/sd{chr(102 + i // 3 % 20)}{i}")
        for i in range(counts["snapshot"]):
            s.snapshot(region, age_days=200 if i % 2 == 0 else 10, size=20)
        for i in range(counts["eip"]):
            s.address(region, associate_with=anchor if i % 5 == 0 else None)
        for i in range(counts["nat"]):
            s.nat_gateway(region, traffic=None if i % 2 == 0 else busy_net)
        for i in range(counts["alb"]):
            busy = i % 2 == 1
            s.load_balancer(region, requests=requests if busy else None, healthy=constant(2))
        for i in range(counts["clb"]):
            s.classic_elb(region, instances=[anchor], requests=requests if i % 2 else None)
        for i in range(counts["rds"]):
            s.db_instance(region, connections=busy_db if i % 2 else constant(0))
        created += sum(counts.values())
    s.flush()
    return created


def ensure_c7n(venv: Path) -> Path:
    custodian = venv / "bin" / "custodian"
    if not custodian.exists():
        print(f"installing {C7N_VERSION} into {venv} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", C7N_VERSION], check=True)
    return custodian


class CloudWatchClock:
    """Wall time moto spends inside its CloudWatch metric reads (it scans every stored datapoint per query
    or call, which real CloudWatch does not): reported apart, so the tools' own time shows."""

    def __init__(self) -> None:
        import threading

        from moto.cloudwatch.models import CloudWatchBackend

        self.seconds = 0.0  # time during which at least one metric read was being answered
        self._active = 0
        self._since = 0.0
        self._lock = threading.Lock()
        for name in ("get_metric_data", "get_metric_statistics"):
            setattr(CloudWatchBackend, name, self._timed(getattr(CloudWatchBackend, name)))

    def _timed(self, method: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                if self._active == 0:
                    self._since = time.perf_counter()
                self._active += 1
            try:
                return method(*args, **kwargs)
            finally:
                with self._lock:
                    self._active -= 1
                    if self._active == 0:
                        self.seconds += time.perf_counter() - self._since

        return wrapper


def timed(
    tool: str, command: list[str], env: dict[str, str], *, proxy: Any, cwd: Path, clock: CloudWatchClock
) -> tuple[Run, str]:
    proxy.calls.clear()
    clock.seconds = 0.0
    started = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False, timeout=3600)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{tool} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return Run(tool, seconds, Counter(proxy.calls), 0, clock.seconds), result.stdout


def c7n_findings(outdir: Path) -> int:
    per_policy: Counter[str] = Counter()
    for path in outdir.rglob("resources.json"):
        per_policy[path.parent.name] += len(json.loads(path.read_text()))
    print(
        "custodian findings per policy: " + ", ".join(f"{k} {v}" for k, v in sorted(per_policy.items())),
        file=sys.stderr,
    )
    return sum(per_policy.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resources", type=int, default=3000)
    parser.add_argument("--regions", default="us-east-1,us-west-2")
    parser.add_argument("--c7n-venv", type=Path, default=Path("/tmp/c7n-venv"))  # noqa: S108 (the brief names it)
    parser.add_argument("--skip-c7n", action="store_true")
    args = parser.parse_args()
    regions = [r.strip() for r in args.regions.split(",") if r.strip()]

    from costguard_local.standins.aws import FAKE_ENV, MotoStandIn
    from costguard_local.standins.proxy import CountingProxy

    os.environ.update(FAKE_ENV)
    now = datetime.now(UTC)
    moto = MotoStandIn().start()
    proxy = CountingProxy(moto.endpoint).start()
    clock = CloudWatchClock()
    work = Path(tempfile.mkdtemp(prefix="costguard-bench-"))
    try:
        t0 = time.perf_counter()
        resources = seed(moto.endpoint, regions, args.resources, now)
        took = time.perf_counter() - t0
        print(f"seeded {resources} resources in {', '.join(regions)} in {took:.0f} s", file=sys.stderr)
        env = {
            k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k not in ("VIRTUAL_ENV", "PYTHONPATH")
        }
        env.update({**FAKE_ENV, "AWS_ENDPOINT_URL": proxy.endpoint})

        region_args = [a for r in regions for a in ("--region", r)]
        costguard_cmd = [str(REPO / ".venv" / "bin" / "costguard"), "scan", *region_args, "--format", "json"]
        ours, out = timed("costguard scan", costguard_cmd, env, proxy=proxy, cwd=work, clock=clock)
        ours.findings = len(out.splitlines())
        mine = Counter(json.loads(line)["rule"] for line in out.splitlines())
        print("costguard findings per rule: " + ", ".join(f"{k} {v}" for k, v in sorted(mine.items())), file=sys.stderr)
        runs = [ours]

        if not args.skip_c7n:
            custodian = ensure_c7n(args.c7n_venv)
            (work / "policies.yml").write_text(POLICIES)
            outdir = work / "c7n-out"
            # --cache-period 0: no resource cache, so every run describes the account it is pointed at.
            c7n_cmd = [
                str(custodian),
                "run",
                "--dryrun",
                "--cache-period",
                "0",
                "-s",
                str(outdir),
                *region_args,
                "policies.yml",
            ]
            theirs, _ = timed("custodian run --dryrun", c7n_cmd, env, proxy=proxy, cwd=work, clock=clock)
            theirs.findings = c7n_findings(outdir)
            runs.append(theirs)
        report(runs, resources)
    finally:
        proxy.stop()
        moto.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


def report(runs: list[Run], resources: int) -> None:
    per = 1000 / resources
    print(f"\n{resources} resources; API calls counted at the wire (CountingProxy)\n")
    head = f"{'tool':<26}{'API calls':>10}{'per 1k res':>12}{'wall s':>9}{'moto CW s':>11}{'wall-CW s':>11}"
    print(head + f"{'findings':>10}")
    for r in runs:
        own = r.seconds - r.cloudwatch_seconds
        print(
            f"{r.tool:<26}{r.total:>10}{r.total * per:>12.1f}{r.seconds:>9.1f}"
            f"{r.cloudwatch_seconds:>11.1f}{own:>11.1f}{r.findings:>10}"
        )
    for r in runs:
        top = ", ".join(f"{op} {n}" for op, n in r.calls.most_common(8))
        print(f"  {r.tool}: {top}")
    if len(runs) == 2:
        ours, theirs = runs
        own = (ours.seconds - ours.cloudwatch_seconds) / (theirs.seconds - theirs.cloudwatch_seconds)
        print(
            f"\nratios costguard/custodian: API calls {ours.total / theirs.total:.3f} (goal <= 0.05), "
            f"wall time {ours.seconds / theirs.seconds:.3f} (goal <= 0.20), "
            f"wall time without moto's CloudWatch scans {own:.3f}"
        )


if __name__ == "__main__":
    sys.exit(main())
