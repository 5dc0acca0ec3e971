"""Idle findings in the state table (pk/sk strings, the record as JSON in `data`), and which digest
messages of a day were posted; a DynamoDB store and an in-memory twin behind one small interface.

  pk = IDLE#<account>             sk = <finding id>     data = the finding record (status open|resolved)
  pk = IDLEDIGEST#<account>#<day> sk = <part, 3 digits> data = {"ts": ...}   (expires after 7 days)
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

DIGEST_MARKER_TTL_SECONDS = 7 * 86400


class IdleStore(Protocol):
    def findings(self, account: str) -> dict[str, dict[str, Any]]: ...
    def put_findings(self, account: str, records: Mapping[str, Mapping[str, Any]]) -> None: ...
    def posted_parts(self, account: str, day: str) -> set[int]: ...
    def posted_messages(self, account: str, day: str) -> dict[int, str]: ...
    def mark_posted(self, account: str, day: str, part: int, ts: str, expires_at: int) -> None: ...


@dataclass
class MemoryIdleStore:
    items: dict[tuple[str, str], str] = field(default_factory=dict)

    def _range(self, pk: str) -> Iterator[tuple[str, str]]:
        for (p, s), v in sorted(self.items.items()):
            if p == pk:
                yield s, v

    def findings(self, account: str) -> dict[str, dict[str, Any]]:
        return {s: json.loads(v) for s, v in self._range(f"IDLE#{account}")}

    def put_findings(self, account: str, records: Mapping[str, Mapping[str, Any]]) -> None:
        for finding_id, record in records.items():
            self.items[(f"IDLE#{account}", finding_id)] = json.dumps(record, sort_keys=True)

    def posted_parts(self, account: str, day: str) -> set[int]:
        return {int(s) for s, _ in self._range(f"IDLEDIGEST#{account}#{day}")}

    def posted_messages(self, account: str, day: str) -> dict[int, str]:
        return {int(s): str(json.loads(v)["ts"]) for s, v in self._range(f"IDLEDIGEST#{account}#{day}")}

    def mark_posted(self, account: str, day: str, part: int, ts: str, expires_at: int) -> None:
        self.items[(f"IDLEDIGEST#{account}#{day}", f"{part:03d}")] = json.dumps({"ts": ts})


@dataclass
class DynamoIdleStore:
    client: Any  # boto3 DynamoDB client
    table: str

    def _query(self, pk: str) -> Iterator[tuple[str, str]]:
        paginator = self.client.get_paginator("query")
        for page in paginator.paginate(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
        ):
            for item in page.get("Items", []):
                yield item["sk"]["S"], item["data"]["S"]

    def findings(self, account: str) -> dict[str, dict[str, Any]]:
        return {s: json.loads(v) for s, v in self._query(f"IDLE#{account}")}

    def put_findings(self, account: str, records: Mapping[str, Mapping[str, Any]]) -> None:
        requests = []
        for finding_id, record in records.items():
            item: dict[str, Any] = {
                "pk": {"S": f"IDLE#{account}"},
                "sk": {"S": finding_id},
                "data": {"S": json.dumps(record, sort_keys=True)},
            }
            if "expires_at" in record:
                item["expires_at"] = {"N": str(int(record["expires_at"]))}
            requests.append({"PutRequest": {"Item": item}})
        for i in range(0, len(requests), 25):
            pending: dict[str, Any] = {self.table: requests[i : i + 25]}
            while pending:  # BatchWriteItem may hand back unprocessed items under load
                pending = self.client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    def posted_parts(self, account: str, day: str) -> set[int]:
        return {int(s) for s, _ in self._query(f"IDLEDIGEST#{account}#{day}")}

    def posted_messages(self, account: str, day: str) -> dict[int, str]:
        """part -> ts of the digest messages posted that day."""
        return {int(s): str(json.loads(v)["ts"]) for s, v in self._query(f"IDLEDIGEST#{account}#{day}")}

    def mark_posted(self, account: str, day: str, part: int, ts: str, expires_at: int) -> None:
        self.client.put_item(
            TableName=self.table,
            Item={
                "pk": {"S": f"IDLEDIGEST#{account}#{day}"},
                "sk": {"S": f"{part:03d}"},
                "data": {"S": json.dumps({"ts": ts})},
                "expires_at": {"N": str(expires_at)},
            },
        )
