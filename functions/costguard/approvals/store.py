"""Approvals state in the one state table (pk/sk strings, records as JSON in `data`); a DynamoDB store
and an in-memory twin behind one small interface. Every exactly-once guarantee is a conditional write.

  pk = SLACKREQ#<sha256 of the signature>   sk = -                 replay guard   (expires after 10 minutes)
  pk = APPROVAL#<subject>#<action>          sk = <user id>         one vote each  (expires after 14 days)
  pk = CLAIM#<subject>                      sk = <action>[#dry-run] the one execution: job_id, status, checkpoint
  pk = AUDIT#<subject>                      sk = <ISO time>#<job>  who, what, when, evidence, result
  pk = SNOOZE#<account>                     sk = <finding id>      until (expires then)
  pk = GRACE#<account>                      sk = <finding id>      grace period: announced / enqueued (per episode)
  pk = SPENDALERT#<alert id>                sk = -                 a posted spend alert (written by the spend watch)
  pk = MUTE#<scope>                         sk = <series>          until, by (expires then; read by the spend watch)
  (reads) pk = IDLE#<account> sk = <finding id>; pk = IDLEDIGEST#<account>#<day> sk = <part>  (idle/store.py)
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

CLAIMED, EXECUTED, REFUSED, FAILED, DRY_RUN = "claimed", "executed", "refused", "failed", "dry-run"
FINAL = frozenset({EXECUTED, REFUSED, DRY_RUN})


class ApprovalStore(Protocol):
    def remember_request(self, key: str, expires_at: int) -> bool: ...
    def finding(self, account: str, finding_id: str) -> dict[str, Any] | None: ...
    def update_finding(self, account: str, finding_id: str, changes: Mapping[str, Any]) -> None: ...
    def digest_messages(self, account: str, days: Sequence[str]) -> set[str]: ...
    def add_approval(self, subject: str, action: str, user: str, at: str, expires_at: int) -> bool: ...
    def approvals(self, subject: str, action: str) -> list[tuple[str, str]]: ...
    def claim(self, subject: str, key: str, job_id: str, at: str) -> dict[str, Any] | None: ...
    def claim_of(self, subject: str, key: str) -> dict[str, Any] | None: ...
    def save_checkpoint(self, subject: str, key: str, name: str, value: str) -> None: ...
    def finish_claim(self, subject: str, key: str, status: str, result: Mapping[str, Any], at: str) -> None: ...
    def audit(self, subject: str, row: Mapping[str, Any]) -> None: ...
    def audit_rows(self, subject: str) -> list[dict[str, Any]]: ...
    def snooze(self, account: str, finding_id: str, until: str, expires_at: int) -> None: ...
    def snoozed(self, account: str, now: str) -> set[str]: ...
    def spend_alert(self, alert: str) -> dict[str, Any] | None: ...
    def update_spend_alert(self, alert: str, changes: Mapping[str, Any]) -> None: ...
    def mute(self, scope: str, series: str, record: Mapping[str, Any], expires_at: int) -> None: ...
    def grace_marks(self, account: str) -> dict[str, dict[str, Any]]: ...
    def mark_grace(self, account: str, finding_id: str, record: Mapping[str, Any], expires_at: int) -> None: ...


def _audit_sk(row: Mapping[str, Any]) -> str:
    return f"{row['at']}#{row.get('job_id') or row.get('request') or '-'}#{row.get('decision', '')}"


@dataclass
class MemoryApprovalStore:
    items: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _range(self, pk: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for (p, s), v in sorted(self.items.items()):
            if p == pk:
                yield s, v

    def remember_request(self, key: str, expires_at: int) -> bool:
        with self._lock:
            if (f"SLACKREQ#{key}", "-") in self.items:
                return False
            self.items[(f"SLACKREQ#{key}", "-")] = {"expires_at": expires_at}
            return True

    def put_finding(self, account: str, finding_id: str, record: Mapping[str, Any]) -> None:
        self.items[(f"IDLE#{account}", finding_id)] = {"data": dict(record)}

    def finding(self, account: str, finding_id: str) -> dict[str, Any] | None:
        item = self.items.get((f"IDLE#{account}", finding_id))
        return dict(item["data"]) if item else None

    def update_finding(self, account: str, finding_id: str, changes: Mapping[str, Any]) -> None:
        with self._lock:
            item = self.items.get((f"IDLE#{account}", finding_id))
            if item is not None:
                item["data"] = {**item["data"], **changes}

    def mark_digest(self, account: str, day: str, part: int, ts: str) -> None:
        self.items[(f"IDLEDIGEST#{account}#{day}", f"{part:03d}")] = {"data": {"ts": ts}}

    def digest_messages(self, account: str, days: Sequence[str]) -> set[str]:
        return {str(v["data"]["ts"]) for day in days for _, v in self._range(f"IDLEDIGEST#{account}#{day}")}

    def add_approval(self, subject: str, action: str, user: str, at: str, expires_at: int) -> bool:
        with self._lock:
            key = (f"APPROVAL#{subject}#{action}", user)
            if key in self.items:
                return False
            self.items[key] = {"at": at}
            return True

    def approvals(self, subject: str, action: str) -> list[tuple[str, str]]:
        with self._lock:
            votes = list(self._range(f"APPROVAL#{subject}#{action}"))
        return sorted(((u, str(v["at"])) for u, v in votes), key=lambda x: (x[1], x[0]))

    def claim(self, subject: str, key: str, job_id: str, at: str) -> dict[str, Any] | None:
        with self._lock:
            item = self.items.get((f"CLAIM#{subject}", key))
            if item is not None and not (item["job_id"] == job_id and item["status"] in (CLAIMED, FAILED)):
                return None
            if item is None:
                item = {"job_id": job_id, "claimed_at": at, "checkpoint": {}}
                self.items[(f"CLAIM#{subject}", key)] = item
            item["status"] = CLAIMED
            return dict(json.loads(json.dumps(item)))

    def claim_of(self, subject: str, key: str) -> dict[str, Any] | None:
        item = self.items.get((f"CLAIM#{subject}", key))
        return dict(json.loads(json.dumps(item))) if item else None

    def save_checkpoint(self, subject: str, key: str, name: str, value: str) -> None:
        with self._lock:
            self.items[(f"CLAIM#{subject}", key)]["checkpoint"][name] = value

    def finish_claim(self, subject: str, key: str, status: str, result: Mapping[str, Any], at: str) -> None:
        with self._lock:
            self.items[(f"CLAIM#{subject}", key)].update(status=status, result=dict(result), finished_at=at)

    def audit(self, subject: str, row: Mapping[str, Any]) -> None:
        with self._lock:
            self.items[(f"AUDIT#{subject}", _audit_sk(row))] = {"data": dict(row)}

    def audit_rows(self, subject: str) -> list[dict[str, Any]]:
        return [dict(v["data"]) for _, v in self._range(f"AUDIT#{subject}")]

    def snooze(self, account: str, finding_id: str, until: str, expires_at: int) -> None:
        self.items[(f"SNOOZE#{account}", finding_id)] = {"data": {"until": until}}

    def snoozed(self, account: str, now: str) -> set[str]:
        return {s for s, v in self._range(f"SNOOZE#{account}") if v["data"]["until"] > now}

    def put_spend_alert(self, alert: str, record: Mapping[str, Any]) -> None:
        self.items[(f"SPENDALERT#{alert}", "-")] = {"data": dict(record)}

    def spend_alert(self, alert: str) -> dict[str, Any] | None:
        item = self.items.get((f"SPENDALERT#{alert}", "-"))
        return dict(item["data"]) if item else None

    def update_spend_alert(self, alert: str, changes: Mapping[str, Any]) -> None:
        with self._lock:
            item = self.items.get((f"SPENDALERT#{alert}", "-"))
            if item is not None:
                item["data"] = {**item["data"], **changes}

    def mute(self, scope: str, series: str, record: Mapping[str, Any], expires_at: int) -> None:
        self.items[(f"MUTE#{scope}", series)] = {"data": dict(record)}

    def mutes(self, scope: str) -> dict[str, dict[str, Any]]:
        return {s: dict(v["data"]) for s, v in self._range(f"MUTE#{scope}")}

    def grace_marks(self, account: str) -> dict[str, dict[str, Any]]:
        return {s: dict(v["data"]) for s, v in self._range(f"GRACE#{account}")}

    def mark_grace(self, account: str, finding_id: str, record: Mapping[str, Any], expires_at: int) -> None:
        self.items[(f"GRACE#{account}", finding_id)] = {"data": dict(record)}


def _conditional_failed(error: Exception) -> bool:
    code: str = getattr(error, "response", {}).get("Error", {}).get("Code", "")
    return code == "ConditionalCheckFailedException"


@dataclass
class DynamoApprovalStore:
    client: Any  # boto3 DynamoDB client
    table: str

    def _key(self, pk: str, sk: str) -> dict[str, Any]:
        return {"pk": {"S": pk}, "sk": {"S": sk}}

    def _put_new(self, pk: str, sk: str, attrs: Mapping[str, Any]) -> bool:
        try:
            self.client.put_item(
                TableName=self.table,
                Item={**self._key(pk, sk), **attrs},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except Exception as error:
            if _conditional_failed(error):
                return False
            raise
        return True

    def _query(self, pk: str) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("query")
        for page in paginator.paginate(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
            ConsistentRead=True,
        ):
            yield from page.get("Items", [])

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        item = self.client.get_item(TableName=self.table, Key=self._key(pk, sk), ConsistentRead=True).get("Item")
        return dict(item) if item else None

    def remember_request(self, key: str, expires_at: int) -> bool:
        return self._put_new(f"SLACKREQ#{key}", "-", {"expires_at": {"N": str(expires_at)}})

    def finding(self, account: str, finding_id: str) -> dict[str, Any] | None:
        item = self._get(f"IDLE#{account}", finding_id)
        return dict(json.loads(item["data"]["S"])) if item else None

    def update_finding(self, account: str, finding_id: str, changes: Mapping[str, Any]) -> None:
        record = self.finding(account, finding_id)
        if record is None:
            return
        record.update(changes)
        item: dict[str, Any] = {
            **self._key(f"IDLE#{account}", finding_id),
            "data": {"S": json.dumps(record, sort_keys=True)},
        }
        if "expires_at" in record:
            item["expires_at"] = {"N": str(int(record["expires_at"]))}
        self.client.put_item(TableName=self.table, Item=item)

    def digest_messages(self, account: str, days: Sequence[str]) -> set[str]:
        return {
            str(json.loads(item["data"]["S"])["ts"])
            for day in days
            for item in self._query(f"IDLEDIGEST#{account}#{day}")
        }

    def add_approval(self, subject: str, action: str, user: str, at: str, expires_at: int) -> bool:
        attrs = {"at": {"S": at}, "expires_at": {"N": str(expires_at)}}
        return self._put_new(f"APPROVAL#{subject}#{action}", user, attrs)

    def approvals(self, subject: str, action: str) -> list[tuple[str, str]]:
        votes = [(i["sk"]["S"], i["at"]["S"]) for i in self._query(f"APPROVAL#{subject}#{action}")]
        return sorted(votes, key=lambda x: (x[1], x[0]))

    @staticmethod
    def _claim(item: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "job_id": item["job_id"]["S"],
            "status": item["status"]["S"],
            "claimed_at": item.get("claimed_at", {}).get("S", ""),
            "checkpoint": {k: v["S"] for k, v in item.get("checkpoint", {}).get("M", {}).items()},
        }
        if "result" in item:
            out["result"] = json.loads(item["result"]["S"])
        return out

    def claim(self, subject: str, key: str, job_id: str, at: str) -> dict[str, Any] | None:
        try:
            response = self.client.update_item(
                TableName=self.table,
                Key=self._key(f"CLAIM#{subject}", key),
                UpdateExpression="SET job_id = :job, #st = :claimed, claimed_at = if_not_exists(claimed_at, :at), "
                "checkpoint = if_not_exists(checkpoint, :empty)",
                # New, or this very job resuming after a failure (a redelivery); never another click's claim.
                ConditionExpression="attribute_not_exists(pk) OR (job_id = :job AND #st IN (:claimed, :failed))",
                ExpressionAttributeNames={"#st": "status"},
                ExpressionAttributeValues={
                    ":job": {"S": job_id},
                    ":claimed": {"S": CLAIMED},
                    ":failed": {"S": FAILED},
                    ":at": {"S": at},
                    ":empty": {"M": {}},
                },
                ReturnValues="ALL_NEW",
            )
        except Exception as error:
            if _conditional_failed(error):
                return None
            raise
        return self._claim(response["Attributes"])

    def claim_of(self, subject: str, key: str) -> dict[str, Any] | None:
        item = self._get(f"CLAIM#{subject}", key)
        return self._claim(item) if item else None

    def save_checkpoint(self, subject: str, key: str, name: str, value: str) -> None:
        self.client.update_item(
            TableName=self.table,
            Key=self._key(f"CLAIM#{subject}", key),
            UpdateExpression="SET checkpoint.#n = :v",
            ExpressionAttributeNames={"#n": name},
            ExpressionAttributeValues={":v": {"S": value}},
        )

    def finish_claim(self, subject: str, key: str, status: str, result: Mapping[str, Any], at: str) -> None:
        self.client.update_item(
            TableName=self.table,
            Key=self._key(f"CLAIM#{subject}", key),
            UpdateExpression="SET #st = :s, #r = :r, finished_at = :at",
            ExpressionAttributeNames={"#st": "status", "#r": "result"},
            ExpressionAttributeValues={
                ":s": {"S": status},
                ":r": {"S": json.dumps(result, sort_keys=True, default=str)},
                ":at": {"S": at},
            },
        )

    def audit(self, subject: str, row: Mapping[str, Any]) -> None:
        self.client.put_item(
            TableName=self.table,
            Item={
                **self._key(f"AUDIT#{subject}", _audit_sk(row)),
                "data": {"S": json.dumps(row, sort_keys=True, default=str)},
            },
        )

    def audit_rows(self, subject: str) -> list[dict[str, Any]]:
        return [dict(json.loads(i["data"]["S"])) for i in self._query(f"AUDIT#{subject}")]

    def snooze(self, account: str, finding_id: str, until: str, expires_at: int) -> None:
        self.client.put_item(
            TableName=self.table,
            Item={
                **self._key(f"SNOOZE#{account}", finding_id),
                "data": {"S": json.dumps({"until": until})},
                "expires_at": {"N": str(expires_at)},
            },
        )

    def snoozed(self, account: str, now: str) -> set[str]:
        # TTL deletes lazily (up to days later): compare `until` as well.
        return {i["sk"]["S"] for i in self._query(f"SNOOZE#{account}") if json.loads(i["data"]["S"])["until"] > now}

    def _put_record(self, pk: str, sk: str, record: Mapping[str, Any], expires_at: int | None = None) -> None:
        item: dict[str, Any] = {**self._key(pk, sk), "data": {"S": json.dumps(record, sort_keys=True, default=str)}}
        if expires_at is not None:
            item["expires_at"] = {"N": str(expires_at)}
        self.client.put_item(TableName=self.table, Item=item)

    def spend_alert(self, alert: str) -> dict[str, Any] | None:
        item = self._get(f"SPENDALERT#{alert}", "-")
        return dict(json.loads(item["data"]["S"])) if item else None

    def update_spend_alert(self, alert: str, changes: Mapping[str, Any]) -> None:
        item = self._get(f"SPENDALERT#{alert}", "-")
        if item is None:
            return
        record = {**json.loads(item["data"]["S"]), **changes}
        expires = int(item["expires_at"]["N"]) if "expires_at" in item else None
        self._put_record(f"SPENDALERT#{alert}", "-", record, expires)

    def mute(self, scope: str, series: str, record: Mapping[str, Any], expires_at: int) -> None:
        self._put_record(f"MUTE#{scope}", series, record, expires_at)

    def grace_marks(self, account: str) -> dict[str, dict[str, Any]]:
        return {i["sk"]["S"]: dict(json.loads(i["data"]["S"])) for i in self._query(f"GRACE#{account}")}

    def mark_grace(self, account: str, finding_id: str, record: Mapping[str, Any], expires_at: int) -> None:
        self._put_record(f"GRACE#{account}", finding_id, record, expires_at)
