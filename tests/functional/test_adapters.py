"""Adapters against moto's server over HTTP: the DynamoDB store behaves like its in-memory twin, and the
Cost Explorer adapter follows pages and sends the filters we mean."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from costguard.adapters.cost_explorer import CostDay, CostExplorer
from costguard.adapters.state_store import DynamoSpendStore, MemorySpendStore, OutboxItem, SpendStore
from costguard_local.seed import seed_ce
from costguard_local.standins.aws import MotoStandIn, create_state_table

pytestmark = pytest.mark.functional


def _exercise(store: SpendStore) -> dict[str, Any]:
    days = [CostDay(date(2024, 1, d), d == 3, {"AWS Glue": d * 1.5, "Amazon S3": 0.25}) for d in (1, 2, 3)]
    store.put_cost_days("s", days)
    store.put_states("s", {"AWS Glue": {"last": "2024-01-03", "nested": {"x": [1, 2.5]}}})
    store.put_thread("s", "AWS Glue", {"channel": "C1", "ts": "1.2"})
    store.put_thread("s", "Amazon S3", {"channel": "C1", "ts": "1.3"})
    store.put_thread("s", "Amazon S3", None)
    store.put_outbox(
        "s",
        [
            OutboxItem("2024-01-03#0001#b#open", "b", "open", {"text": "t"}),
            OutboxItem("2024-01-03#0000#a#open", "a", "open", {"text": "u"}),
        ],
    )
    store.delete_outbox("s", "2024-01-03#0001#b#open")
    return {
        "window": store.cost_days("s", date(2024, 1, 2), date(2024, 1, 4)),
        "other_scope": store.cost_days("t", date(2024, 1, 1), date(2024, 1, 4)),
        "states": store.states("s"),
        "threads": store.threads("s"),
        "outbox": store.outbox("s"),
    }


def test_dynamodb_store_matches_memory_twin(moto: MotoStandIn) -> None:
    create_state_table(moto.client("dynamodb"), "t")
    dynamo = _exercise(DynamoSpendStore(client=moto.client("dynamodb"), table="t"))
    memory = _exercise(MemorySpendStore())
    assert dynamo == memory
    assert [d.day.day for d in dynamo["window"]] == [2, 3]
    assert dynamo["window"][1].estimated is True
    assert dynamo["threads"] == {"AWS Glue": {"channel": "C1", "ts": "1.2"}}
    assert [i.series for i in dynamo["outbox"]] == ["a"]


def _result(day: str, groups: list[tuple[list[str], float]], estimated: bool = False) -> dict[str, Any]:
    return {
        "TimePeriod": {"Start": day, "End": day},
        "Total": {},
        "Groups": [{"Keys": k, "Metrics": {"UnblendedCost": {"Amount": str(v), "Unit": "USD"}}} for k, v in groups],
        "Estimated": estimated,
    }


def test_cost_explorer_follows_pages_and_merges_a_day_split_across_them(moto: MotoStandIn) -> None:
    seed_ce(
        moto.endpoint,
        [
            {
                "ResultsByTime": [
                    _result("2024-01-01", [(["team$web", "AWS Glue"], 1.0)]),
                    _result("2024-01-02", [(["team$", "AWS Glue"], 2.0)]),
                ],
                "NextPageToken": "page-2",
                "DimensionValueAttributes": [],
            },
            {
                "ResultsByTime": [_result("2024-01-02", [(["team$web", "AWS Glue"], 3.0)], estimated=True)],
                "DimensionValueAttributes": [],
            },
        ],
    )
    ce = CostExplorer(client=moto.client("ce"), group_by="TAG:team")
    days = ce.daily_costs(date(2024, 1, 1), date(2024, 1, 3))
    assert ce.requests == 2
    assert [d.costs for d in days] == [{"web/AWS Glue": 1.0}, {"untagged/AWS Glue": 2.0, "web/AWS Glue": 3.0}]
    assert [d.estimated for d in days] == [False, True]


def test_cost_explorer_requests_exclude_credits_refunds_tax_and_scope_drill_downs() -> None:
    sent: list[dict[str, Any]] = []

    class Recorder:
        def get_cost_and_usage(self, **request: Any) -> dict[str, Any]:
            sent.append(request)
            return {"ResultsByTime": []}

    ce = CostExplorer(client=Recorder(), group_by="LINKED_ACCOUNT", metric="AmortizedCost")
    ce.daily_costs(date(2024, 1, 1), date(2024, 1, 2))
    ce.drill_down("111122223333/AWS Glue", date(2024, 1, 1), date(2024, 1, 2))
    series, drill = sent
    assert series["Metrics"] == ["AmortizedCost"]
    assert series["GroupBy"] == [
        {"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"},
        {"Type": "DIMENSION", "Key": "SERVICE"},
    ]
    assert series["Filter"] == {"Not": {"Dimensions": {"Key": "RECORD_TYPE", "Values": ["Credit", "Refund", "Tax"]}}}
    assert drill["GroupBy"] == [{"Type": "DIMENSION", "Key": "USAGE_TYPE"}]
    assert {"Dimensions": {"Key": "SERVICE", "Values": ["AWS Glue"]}} in drill["Filter"]["And"]
    assert {"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": ["111122223333"]}} in drill["Filter"]["And"]
