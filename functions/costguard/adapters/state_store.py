"""Spend-watch state behind a small interface: a DynamoDB single-table store and an in-memory twin.

Payloads are stored as JSON strings: floats stay floats (no Decimal round trips) and items stay small.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from costguard.adapters.cost_explorer import CostDay


@dataclass(frozen=True)
class OutboxItem:
    """A Slack post that must happen; deleted only after Slack accepted it (an outage delays, never drops)."""

    key: str  # sortable: "<day>#<seq>#<series>#<action>"
    series: str
    action: str
    payload: dict[str, Any]
    alert: str = ""  # an open alert with approval buttons: its opaque id (recorded with channel and ts once posted)


class SpendStore(Protocol):
    def cost_days(self, scope: str, start: date, end: date) -> list[CostDay]: ...
    def put_cost_days(self, scope: str, days: Iterable[CostDay]) -> None: ...
    def states(self, scope: str) -> dict[str, dict[str, Any]]: ...
    def put_states(self, scope: str, states: dict[str, dict[str, Any]]) -> None: ...
    def threads(self, scope: str) -> dict[str, dict[str, str]]: ...
    def put_thread(self, scope: str, series: str, thread: dict[str, str] | None) -> None: ...
    def outbox(self, scope: str) -> list[OutboxItem]: ...
    def put_outbox(self, scope: str, items: Iterable[OutboxItem]) -> None: ...
    def delete_outbox(self, scope: str, key: str) -> None: ...
    def put_alert(self, alert: str, record: dict[str, Any], expires_at: int) -> None: ...
    def mutes(self, scope: str, now: str) -> dict[str, str]: ...


def _cost_day_to_json(day: CostDay) -> str:
    return json.dumps({"estimated": day.estimated, "costs": day.costs}, sort_keys=True)


def _cost_day_from_json(day: str, raw: str) -> CostDay:
    data = json.loads(raw)
    return CostDay(day=date.fromisoformat(day), estimated=bool(data["estimated"]), costs=data["costs"])


@dataclass
class MemorySpendStore:
    items: dict[tuple[str, str], str] = field(default_factory=dict)

    def _range(self, pk: str, lo: str = "", hi: str = "\uffff") -> Iterator[tuple[str, str]]:
        for (p, s), v in sorted(self.items.items()):
            if p == pk and lo <= s <= hi:
                yield s, v

    def cost_days(self, scope: str, start: date, end: date) -> list[CostDay]:
        rows = self._range(f"COST#{scope}", start.isoformat(), end.isoformat())
        return [_cost_day_from_json(s, v) for s, v in rows if s < end.isoformat()]

    def put_cost_days(self, scope: str, days: Iterable[CostDay]) -> None:
        for d in days:
            self.items[(f"COST#{scope}", d.day.isoformat())] = _cost_day_to_json(d)

    def states(self, scope: str) -> dict[str, dict[str, Any]]:
        return {s: json.loads(v) for s, v in self._range(f"STATE#{scope}")}

    def put_states(self, scope: str, states: dict[str, dict[str, Any]]) -> None:
        for series, state in states.items():
            self.items[(f"STATE#{scope}", series)] = json.dumps(state, sort_keys=True)

    def threads(self, scope: str) -> dict[str, dict[str, str]]:
        return {s: json.loads(v) for s, v in self._range(f"THREAD#{scope}")}

    def put_thread(self, scope: str, series: str, thread: dict[str, str] | None) -> None:
        if thread is None:
            self.items.pop((f"THREAD#{scope}", series), None)
        else:
            self.items[(f"THREAD#{scope}", series)] = json.dumps(thread)

    def outbox(self, scope: str) -> list[OutboxItem]:
        return [OutboxItem(**json.loads(v)) for _, v in self._range(f"OUTBOX#{scope}")]

    def put_outbox(self, scope: str, items: Iterable[OutboxItem]) -> None:
        for item in items:
            self.items[(f"OUTBOX#{scope}", item.key)] = json.dumps(item.__dict__, sort_keys=True)

    def delete_outbox(self, scope: str, key: str) -> None:
        self.items.pop((f"OUTBOX#{scope}", key), None)

    def put_alert(self, alert: str, record: dict[str, Any], expires_at: int) -> None:
        self.items[(f"SPENDALERT#{alert}", "-")] = json.dumps(record, sort_keys=True)

    def put_mute(self, scope: str, series: str, record: dict[str, Any]) -> None:
        self.items[(f"MUTE#{scope}", series)] = json.dumps(record, sort_keys=True)

    def mutes(self, scope: str, now: str) -> dict[str, str]:
        """Muted series -> until (ISO), only mutes still in force at `now`."""
        found = {s: str(json.loads(v)["until"]) for s, v in self._range(f"MUTE#{scope}")}
        return {s: until for s, until in found.items() if until > now}


@dataclass
class DynamoSpendStore:
    """Single table: pk/sk strings, the payload in `data` (a JSON string)."""

    client: Any  # boto3 DynamoDB client
    table: str

    def _query(self, pk: str, lo: str | None = None, hi: str | None = None) -> Iterator[tuple[str, str]]:
        expr = "pk = :pk"
        values: dict[str, Any] = {":pk": {"S": pk}}
        if lo is not None and hi is not None:
            expr += " AND sk BETWEEN :lo AND :hi"
            values.update({":lo": {"S": lo}, ":hi": {"S": hi}})
        paginator = self.client.get_paginator("query")
        for page in paginator.paginate(
            TableName=self.table, KeyConditionExpression=expr, ExpressionAttributeValues=values
        ):
            for item in page.get("Items", []):
                yield item["sk"]["S"], item["data"]["S"]

    def _put_many(self, pk: str, rows: Iterable[tuple[str, str]]) -> None:
        requests = [{"PutRequest": {"Item": {"pk": {"S": pk}, "sk": {"S": s}, "data": {"S": d}}}} for s, d in rows]
        for i in range(0, len(requests), 25):
            pending: dict[str, Any] = {self.table: requests[i : i + 25]}
            # BatchWriteItem may hand back unprocessed items under load: resend until none remain.
            while pending:
                response = self.client.batch_write_item(RequestItems=pending)
                pending = response.get("UnprocessedItems") or {}

    def cost_days(self, scope: str, start: date, end: date) -> list[CostDay]:
        rows = self._query(f"COST#{scope}", start.isoformat(), end.isoformat())
        return [_cost_day_from_json(s, v) for s, v in rows if s < end.isoformat()]

    def put_cost_days(self, scope: str, days: Iterable[CostDay]) -> None:
        self._put_many(f"COST#{scope}", ((d.day.isoformat(), _cost_day_to_json(d)) for d in days))

    def states(self, scope: str) -> dict[str, dict[str, Any]]:
        return {s: json.loads(v) for s, v in self._query(f"STATE#{scope}")}

    def put_states(self, scope: str, states: dict[str, dict[str, Any]]) -> None:
        self._put_many(f"STATE#{scope}", ((s, json.dumps(v, sort_keys=True)) for s, v in states.items()))

    def threads(self, scope: str) -> dict[str, dict[str, str]]:
        return {s: json.loads(v) for s, v in self._query(f"THREAD#{scope}")}

    def put_thread(self, scope: str, series: str, thread: dict[str, str] | None) -> None:
        key = {"pk": {"S": f"THREAD#{scope}"}, "sk": {"S": series}}
        if thread is None:
            self.client.delete_item(TableName=self.table, Key=key)
        else:
            self.client.put_item(TableName=self.table, Item={**key, "data": {"S": json.dumps(thread)}})

    def outbox(self, scope: str) -> list[OutboxItem]:
        return [OutboxItem(**json.loads(v)) for _, v in self._query(f"OUTBOX#{scope}")]

    def put_outbox(self, scope: str, items: Iterable[OutboxItem]) -> None:
        self._put_many(f"OUTBOX#{scope}", ((i.key, json.dumps(i.__dict__, sort_keys=True)) for i in items))

    def delete_outbox(self, scope: str, key: str) -> None:
        self.client.delete_item(TableName=self.table, Key={"pk": {"S": f"OUTBOX#{scope}"}, "sk": {"S": key}})

    def put_alert(self, alert: str, record: dict[str, Any], expires_at: int) -> None:
        self.client.put_item(
            TableName=self.table,
            Item={
                "pk": {"S": f"SPENDALERT#{alert}"},
                "sk": {"S": "-"},
                "data": {"S": json.dumps(record, sort_keys=True)},
                "expires_at": {"N": str(expires_at)},
            },
        )

    def mutes(self, scope: str, now: str) -> dict[str, str]:
        """Muted series -> until (ISO), only mutes still in force at `now` (TTL deletes lazily)."""
        found = {s: str(json.loads(v)["until"]) for s, v in self._query(f"MUTE#{scope}")}
        return {s: until for s, until in found.items() if until > now}
