"""The idle scan against moto's server over HTTP: an idle and a busy twin for every rule in two regions
(metric shapes from NAB's real CloudWatch recordings), read-only (dry run). Seeded once for the module."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from costguard.idle.inventory import ClientFactory
from costguard.idle.rules import REGISTRY, TAG_PERMISSIONS, build_rules
from costguard.idle.scan import scan
from costguard.idle.service import sweep
from costguard_local import cli
from costguard_local.idle_seed import ACCOUNT, IdleSeeder, Twins, seed_twins
from costguard_local.standins.aws import MotoStandIn
from costguard_local.standins.proxy import CountingProxy

pytestmark = pytest.mark.functional
NOW = datetime(2024, 5, 1, 6, 0, tzinfo=UTC)
REGIONS = ("us-east-1", "eu-west-1")
TAGGING_CALLS = {"CreateTags", "DeleteTags", "AddTags", "RemoveTags", "AddTagsToResource", "RemoveTagsFromResource"}


@dataclass
class World:
    moto: MotoStandIn
    twins: Twins


@pytest.fixture(scope="module")
def world(moto_server: MotoStandIn) -> Iterator[World]:
    moto_server.reset()
    with pytest.MonkeyPatch.context() as mp:
        for k, v in moto_server.env().items():
            mp.setenv(k, v)
        yield World(moto_server, seed_twins(IdleSeeder(moto_server.endpoint, NOW), REGIONS))


@pytest.fixture
def proxy(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[CountingProxy]:
    p = CountingProxy(world.moto.endpoint).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", p.endpoint)
    yield p
    p.stop()


def found(result: Any) -> set[tuple[str, str, str]]:
    return {(f.rule, f.resource.region, f.resource.id) for f in result.findings}


def run_scan(regions: tuple[str, ...] = REGIONS, rules: list[str] | None = None) -> Any:
    return scan(NOW, clients=ClientFactory(), rules=build_rules(rules), regions=regions, account=ACCOUNT)


def test_twins_cover_every_rule_in_both_regions(world: World) -> None:
    for region in REGIONS:
        assert {rule for rule, r, _ in world.twins.idle if r == region} == set(REGISTRY)
        assert {rule for rule, r, _ in world.twins.busy if r == region} == set(REGISTRY)


def test_finds_exactly_the_idle_twins_with_batched_metric_calls(world: World, proxy: CountingProxy) -> None:
    result = run_scan()
    # Precision and recall 1.0: every idle twin, and no busy twin.
    assert found(result) - world.twins.idle == set(), "false positives"
    assert world.twins.idle - found(result) == set(), "missed"
    assert not found(result) & world.twins.busy
    assert result.skipped == []
    # One GetMetricData request per region (< 500 queries each), never a per-resource metric call.
    assert proxy.calls["GetMetricData"] == len(REGIONS)
    assert proxy.calls["GetMetricStatistics"] == 0
    assert not TAGGING_CALLS & set(proxy.calls)  # a scan never tags
    # Everything here has a list price in these regions: no unknowns, no silent zeros.
    for f in result.findings:
        assert f.monthly_cost is not None and f.monthly_cost > 0, f


def test_bursty_instance_is_not_idle_even_with_a_low_average(world: World, proxy: CountingProxy) -> None:
    result = run_scan(("eu-west-1",), ["ec2-idle"])
    bursty = world.twins.ids["eu-west-1/busy-instance"]
    assert [f.resource.id for f in result.findings] == [world.twins.ids["eu-west-1/idle-instance"]]
    assert bursty not in {f.resource.id for f in result.findings}


def test_throttled_describe_and_metric_calls_are_retried(world: World, proxy: CountingProxy) -> None:
    proxy.throttle("DescribeVolumes", times=2)
    proxy.throttle("GetMetricData", times=2)
    result = run_scan()
    assert found(result) == world.twins.idle
    assert proxy.calls["DescribeVolumes"] == len(REGIONS) + 2  # two refusals, then answers
    assert proxy.calls["GetMetricData"] == len(REGIONS) + 2


class DenyRegionProxy:
    """Forwards to moto, but answers AuthFailure for requests signed for `region` (as a disabled region does)."""

    def __init__(self, upstream: str, region: str) -> None:
        import http.client
        import urllib.parse

        host = urllib.parse.urlsplit(upstream)
        denied = f"/{region}/"

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if denied in self.headers.get("Authorization", ""):
                    payload = (
                        b"<Response><Errors><Error><Code>AuthFailure</Code><Message>AWS was not able to validate "
                        b"the provided access credentials</Message></Error></Errors><RequestID>x</RequestID></Response>"
                    )
                    self.send_response(401)
                    self.send_header("Content-Type", "text/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection(host.hostname or "127.0.0.1", host.port or 80, timeout=60)
                conn.request("POST", self.path, body=body, headers=dict(self.headers.items()))
                response = conn.getresponse()
                data = response.read()
                self.send_response(response.status)
                for k, v in response.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_region_that_denies_access_is_reported_and_skipped(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    deny = DenyRegionProxy(world.moto.endpoint, "eu-west-1")
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", deny.endpoint)
        result = run_scan()
    finally:
        deny.stop()
    [skipped] = result.skipped
    assert skipped.region == "eu-west-1"
    assert skipped.error.startswith("AuthFailure")
    assert result.scanned_regions == ["us-east-1"]
    assert found(result) == {k for k in world.twins.idle if k[1] == "us-east-1"}


@pytest.mark.parametrize("rule", sorted(REGISTRY))
def test_each_rule_declares_every_permission_its_calls_need(world: World, proxy: CountingProxy, rule: str) -> None:
    """Custodian's test_resource_permissions, at the wire: every API call the rule's scan makes is a
    declared permission (ELB and ELBv2 share the elasticloadbalancing prefix)."""
    run_scan(("us-east-1",), [rule])
    declared = REGISTRY[rule].permissions
    for operation in proxy.calls:
        assert any(p.endswith(f":{operation}") for p in declared), f"{rule} calls {operation} undeclared"
    assert TAG_PERMISSIONS[REGISTRY[rule].resource_type]


def test_sweep_without_apply_changes_no_tags(world: World, proxy: CountingProxy) -> None:
    rules = build_rules()
    _, _decision, report = sweep(
        NOW, clients=ClientFactory(), rules=rules, regions=REGIONS, account=ACCOUNT, store=None, apply_tags=False
    )
    assert report.dry_run and report.tag_changes == len(world.twins.idle) and report.tag_calls == 0
    assert not TAGGING_CALLS & set(proxy.calls)


def test_cli_scan_prints_one_json_line_per_finding(
    world: World, proxy: CountingProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        cli.main(
            ["scan", "--region", "us-east-1", "--region", "eu-west-1", "--format", "json", "--now", NOW.isoformat()]
        )
        == 0
    )
    out, err = capsys.readouterr()
    records = [json.loads(line) for line in out.splitlines()]
    assert {(r["rule"], r["region"], r["resource_id"]) for r in records} == world.twins.idle
    for r in records:
        assert set(r) == {"resource_id", "resource_type", "region", "account", "rule", "reason", "monthly_cost"}
        assert r["account"] == ACCOUNT
    assert "dry run" in err
    assert proxy.calls["GetCallerIdentity"] == 1
    assert not TAGGING_CALLS & set(proxy.calls)


def test_cli_scan_table(world: World, proxy: CountingProxy, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        cli.main(["scan", "--region", "us-east-1", "--format", "table", "--rule", "nat-idle", "--now", NOW.isoformat()])
        == 0
    )
    out, _ = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split() == ["rule", "region", "resource", "$/month", "reason"]
    assert world.twins.ids["us-east-1/quiet-nat"] in out
    assert "32.85" in out  # 730 h x $0.045
    assert lines[-1].startswith("1 finding(s)")
