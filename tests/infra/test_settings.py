"""Context -> Settings: defaults, `-c` strings, and errors that name the key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.app import CDK_JSON, cdk_json_context
from infra.settings import PLACEHOLDER_CHANNEL, Settings, SettingsError

pytestmark = pytest.mark.infra


def test_cdk_json_runs_the_app_module_and_its_context_equals_the_code_defaults() -> None:
    config = json.loads(Path(CDK_JSON).read_text())
    assert config["app"] == "python -m infra.app"
    assert set(config["context"]) == set(Settings.KEYS)
    assert Settings.from_context(config["context"]) == Settings()


def test_defaults() -> None:
    settings = Settings.from_context({})
    assert settings.slack_channel_id == PLACEHOLDER_CHANNEL
    assert settings.uses_placeholder_channel
    assert settings.slack_token_parameter == "/costguard/slack/bot-token"
    assert settings.spend_watch_schedule == "cron(0 13 * * ? *)"
    assert settings.cost_metric == "UnblendedCost"
    assert settings.group_by == ""
    assert settings.min_impact_usd is None
    assert settings.min_impact_pct is None
    assert settings.exclude_record_types == ("Credit", "Refund", "Tax")
    assert settings.history_days == 120
    assert settings.log_retention_days == 30
    assert settings.tracing is False
    assert settings.bundling == "pip"
    # `cdk deploy` gets every capability, and nothing that costs $1/month on its own (a KMS key).
    assert settings.budget_alerts is True
    assert settings.idle_sweep is True
    assert settings.budget_topic_encryption is False


def test_cli_strings_are_parsed() -> None:
    """`cdk synth -c key=value` delivers every value as a string."""
    settings = Settings.from_context(
        {
            "slack_channel_id": "C0AB12CD34",
            "slack_token_parameter": "/team/slack/token",
            "spend_watch_schedule": "cron(30 14 ? * MON-FRI *)",
            "cost_metric": "AmortizedCost",
            "group_by": "TAG:cost-center",
            "min_impact_usd": "25",
            "min_impact_pct": "12.5",
            "exclude_record_types": "Credit, Refund",
            "history_days": "90",
            "log_retention_days": "14",
            "tracing": "true",
            "bundling": "stub",
        }
    )
    assert settings == Settings(
        slack_channel_id="C0AB12CD34",
        slack_token_parameter="/team/slack/token",
        spend_watch_schedule="cron(30 14 ? * MON-FRI *)",
        cost_metric="AmortizedCost",
        group_by="TAG:cost-center",
        min_impact_usd=25.0,
        min_impact_pct=12.5,
        exclude_record_types=("Credit", "Refund"),
        history_days=90,
        log_retention_days=14,
        tracing=True,
        bundling="stub",
    )
    assert not settings.uses_placeholder_channel


def test_json_typed_values_from_cdk_json_are_parsed() -> None:
    settings = Settings.from_context(
        {"history_days": 200, "log_retention_days": 365, "tracing": False, "min_impact_usd": 5, "group_by": ""}
    )
    assert (settings.history_days, settings.log_retention_days, settings.tracing) == (200, 365, False)
    assert settings.min_impact_usd == 5.0


@pytest.mark.parametrize("schedule", ["rate(1 day)", "rate(12 hours)", "cron(0 13 * * ? *)", "cron(0 6 ? * 2 *)"])
def test_schedules_eventbridge_accepts(schedule: str) -> None:
    assert Settings.from_context({"spend_watch_schedule": schedule}).spend_watch_schedule == schedule


def test_cdk_json_context_of_a_missing_file_is_empty(tmp_path: Path) -> None:
    assert cdk_json_context(tmp_path / "cdk.json") == {}


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("cost_metric", "Foo", "must be one of UnblendedCost, AmortizedCost, NetUnblendedCost (got 'Foo')"),
        ("spend_watch_schedule", "every day", "must be an EventBridge schedule"),
        ("spend_watch_schedule", "cron(0 13 * * *)", "six fields"),
        ("spend_watch_schedule", "cron(0 13 * * * *)", "'?' in exactly one of day-of-month and day-of-week"),
        ("spend_watch_schedule", "rate(2 day)", "rate(2 days)"),
        ("slack_channel_id", "general", "must be a Slack channel id"),
        ("slack_channel_id", "#costs", "must be a Slack channel id"),
        ("slack_channel_id", "c0123abcd", "must be a Slack channel id"),
        ("log_retention_days", "31", "must be one of the CloudWatch Logs retentions 1, 3, 5, 7, 14, 30"),
        ("log_retention_days", "0", "must be one of the CloudWatch Logs retentions"),
        ("log_retention_days", "forever", "must be one of the CloudWatch Logs retentions"),
        ("history_days", "30", "must be a whole number of days from 60 to 395"),
        ("history_days", "90.5", "must be a whole number of days"),
        ("min_impact_usd", "-1", "must be a number >= 0"),
        ("min_impact_pct", "ten", "must be a number >= 0"),
        ("min_impact_usd", "nan", "must be a number >= 0"),
        ("group_by", "SERVICE", "must be empty, 'LINKED_ACCOUNT' or 'TAG:<tag key>'"),
        ("group_by", "TAG:", "must be empty, 'LINKED_ACCOUNT' or 'TAG:<tag key>'"),
        ("tracing", "maybe", "must be true or false"),
        ("bundling", "docker", "must be one of pip, stub"),
        ("slack_token_parameter", "/aws/reserved", "must be an SSM parameter name"),
        ("slack_token_parameter", "has space", "must be an SSM parameter name"),
        ("exclude_record_types", "Credit;Refund", "record types"),
    ],
)
def test_bad_values_raise_an_error_naming_the_key(key: str, value: Any, allowed: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_context({key: value})
    message = str(error.value)
    assert message.startswith(f"costguard: context '{key}' ")
    assert allowed in message
    assert repr(value) in message or repr(str(value).strip()) in message


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(AttributeError):
        settings.cost_metric = "AmortizedCost"  # type: ignore[misc]
