"""bench/cost.py: the arithmetic behind `make cost`, on small templates (no synth)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.cost import (
    HOURS,
    PRICE,
    Usage,
    alarm_metric_count,
    estimate,
    handler_metrics,
    metric_hours,
    render,
)

ROOT = Path(__file__).resolve().parents[2]


def fn(handler: str, memory: int = 256) -> dict[str, Any]:
    return {"Type": "AWS::Lambda::Function", "Properties": {"Handler": handler, "MemorySize": memory}}


def math_alarm(n: int) -> dict[str, Any]:
    metrics = [{"Id": f"m{i}", "MetricStat": {"Metric": {}}} for i in range(n)]
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {"Metrics": [{"Id": "e", "Expression": "SUM(...)"}, *metrics]},
    }


SINGLE_ALARM = {"Type": "AWS::CloudWatch::Alarm", "Properties": {"MetricName": "Errors"}}


def test_a_metric_math_alarm_is_billed_per_metric_in_it() -> None:
    assert alarm_metric_count(SINGLE_ALARM) == 1
    assert alarm_metric_count(math_alarm(6)) == 6


def test_handler_metrics_are_read_from_the_handler_source() -> None:
    assert "SpendWatchSucceeded" in handler_metrics("costguard.handlers.spend_watch.handler", ROOT)
    assert handler_metrics("costguard.handlers.nowhere.handler", ROOT) == set()


def test_custom_metrics_are_prorated_by_the_hours_they_receive_data() -> None:
    hours = metric_hours({"a": ({"Shared", "A"}, 30.0), "b": ({"Shared"}, 4.0), "c": ({"Busy"}, 10_000.0)})
    assert hours == {"Shared": 34.0, "A": 30.0, "Busy": HOURS}


def test_estimate_adds_up_every_line(tmp_path: Path) -> None:
    handlers = tmp_path / "functions" / "costguard" / "handlers"
    handlers.mkdir(parents=True)
    (handlers / "daily.py").write_text('metrics.add_metric(name="Ran", unit=1, value=1)\n')
    template = {
        "Resources": {
            "F": fn("costguard.handlers.daily.handler", 512),
            "A1": SINGLE_ALARM,
            "A2": math_alarm(3),
            "K": {"Type": "AWS::KMS::Key", "Properties": {}},
        }
    }
    usage = {"costguard.handlers.daily.handler": Usage(invocations_per_month=30, seconds=10, ce_requests=1)}
    est = estimate(template, usage, root=tmp_path)
    by_item = {line.item.split(" (")[0]: line.usd for line in est.lines}
    assert by_item["CloudWatch alarms"] == pytest.approx(4 * 0.10)
    assert by_item["Cost Explorer API"] == pytest.approx(30 * 0.01)
    assert by_item["Custom metrics"] == pytest.approx(30 * 0.30 / HOURS)
    assert by_item["Lambda"] == pytest.approx(30 * 10 * 0.5 * PRICE["lambda_gb_s_arm64"] + 30 * 0.2 / 1e6)
    assert by_item["KMS"] == pytest.approx(1.0 + 30 * 0.03 / 10_000)
    assert est.total == pytest.approx(sum(by_item.values()))
    text = render(est)
    assert "OVER the $1.00/month goal" in text  # the KMS key alone is $1
    assert "4 alarm metrics x $0.10" in text


@pytest.mark.infra
def test_the_default_stack_costs_under_a_dollar_a_month() -> None:
    from bench.cost import estimate as run
    from bench.cost import synthesize

    est = run(synthesize({}))
    assert est.total < 1.00, render(est)
    assert not [line for line in est.lines if line.item.startswith("KMS (1")]
