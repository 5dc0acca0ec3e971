"""Powertools Idempotency on the one state table, as every handler that must act once uses it."""

from __future__ import annotations

from typing import Any


def state_table_idempotency(
    *, table: str, client: Any, partition: str, key: str, hours: int, context: Any
) -> tuple[Any, Any]:
    """(persistence layer, config) keyed on the record field `key`, stored under pk=`partition`, sk=hash,
    expiring after `hours`. Registering the Lambda context frees the record of an invocation that timed out,
    so its retry runs instead of waiting for the expiry."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig

    persistence = DynamoDBPersistenceLayer(
        table_name=table,
        key_attr="pk",
        sort_key_attr="sk",
        expiry_attr="expires_at",
        static_pk_value=partition,
        boto3_client=client,
    )
    config = IdempotencyConfig(
        event_key_jmespath=key, raise_on_no_idempotency_key=True, expires_after_seconds=hours * 3600
    )
    config.register_lambda_context(context)
    return persistence, config
