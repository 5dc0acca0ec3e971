"""An SQS event source mapping for local runs: receive from moto's queue, invoke the worker handler with a
real-format SQS event, delete only what it processed (honouring `batchItemFailures`); failed messages come
back after the visibility timeout, as on AWS. `drain()` runs until the queue is empty; `start()` polls in a
background thread (the demo page's live updates)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from costguard_local.lambda_runtime import FakeLambdaContext

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass
class DrainReport:
    invocations: int = 0
    processed: int = 0
    failed: int = 0
    results: list[dict[str, Any]] = field(default_factory=list)


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's SQS event source mapping delivers for these received messages."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {
                    k: str(v)
                    for k, v in (m.get("Attributes") or {}).items()
                    if k
                    in (
                        "ApproximateReceiveCount",
                        "SentTimestamp",
                        "SenderId",
                        "ApproximateFirstReceiveTimestamp",
                        "MessageGroupId",
                        "MessageDeduplicationId",
                        "SequenceNumber",
                    )
                },
                "messageAttributes": m.get("MessageAttributes") or {},
                "md5OfBody": m.get("MD5OfBody") or hashlib.md5(m["Body"].encode(), usedforsecurity=False).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


class SqsWorker:
    def __init__(
        self,
        sqs: Any,  # boto3 SQS client (moto)
        queue_url: str,
        handler: Handler,
        *,
        batch_size: int = 10,
        visibility_timeout: int = 30,
        function_name: str = "remediation-worker",
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.handler = handler
        self.batch_size = batch_size
        self.visibility_timeout = visibility_timeout
        self.function_name = function_name
        attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
        self.queue_arn = attrs["QueueArn"]
        self.region = self.queue_arn.split(":")[3]
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def poll_once(self, wait_seconds: int = 0) -> DrainReport:
        """One receive and, if it got messages, one invocation."""
        report = DrainReport()
        with self._lock:
            received = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=self.batch_size,
                VisibilityTimeout=self.visibility_timeout,
                WaitTimeSeconds=wait_seconds,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not received:
                return report
            event = sqs_event(received, self.queue_arn, self.region)
            try:
                result = self.handler(event, FakeLambdaContext(self.function_name)) or {}
                failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
            except Exception:
                # The whole batch failed (as on AWS): nothing is deleted, everything comes back later.
                result, failed = {}, {m["MessageId"] for m in received}
            report.invocations = 1
            report.results.append(result)
            done = [m for m in received if m["MessageId"] not in failed]
            for i in range(0, len(done), 10):
                self.sqs.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[
                        {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done[i : i + 10])
                    ],
                )
            report.processed, report.failed = len(done), len(failed)
            return report

    def drain(self, max_invocations: int = 100) -> DrainReport:
        """Invoke until a receive comes back empty (failed messages stay invisible for the visibility timeout)."""
        total = DrainReport()
        for _ in range(max_invocations):
            r = self.poll_once()
            if not r.invocations:
                break
            total.invocations += r.invocations
            total.processed += r.processed
            total.failed += r.failed
            total.results += r.results
        return total

    def start(self, wait_seconds: int = 1) -> SqsWorker:
        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.poll_once(wait_seconds)
                except Exception as error:  # keep polling; the demo shows what went wrong
                    self.errors.append(error)
                    self._stop.wait(1)

        self._stop.clear()
        self._thread = threading.Thread(target=loop, name="sqs-worker", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._thread = None
