"""The budget-alerts context keys: defaults, `-c` strings, cdk.json JSON values, and errors naming the key."""

from __future__ import annotations

from typing import Any

import pytest

from infra.settings import Settings, SettingsError

pytestmark = pytest.mark.infra


def test_defaults_turn_the_capability_on_with_the_usual_thresholds_and_no_kms_key() -> None:
    s = Settings.from_context({})
    assert s.budget_alerts is True
    assert s.budget_monthly_usd is None
    assert s.budget_name == ""
    assert s.budget_actual_thresholds == (80.0, 100.0)
    assert s.budget_forecast_threshold == 100.0
    assert s.budget_cost_filters == ()
    assert s.budget_topic_encryption is False  # a customer-managed KMS key costs $1/month


def test_cli_strings() -> None:
    s = Settings.from_context(
        {
            "budget_alerts": "true",
            "budget_monthly_usd": "2500.50",
            "budget_name": "team payments",
            "budget_actual_thresholds": "100, 50,90",
            "budget_forecast_threshold": "120",
            "budget_cost_filters": '{"TagKeyValue": ["user:team$payments"], "Service": ["AWS Glue"]}',
            "budget_topic_encryption": "true",
        }
    )
    assert (s.budget_alerts, s.budget_monthly_usd, s.budget_name) == (True, 2500.5, "team payments")
    assert s.budget_actual_thresholds == (50.0, 90.0, 100.0)
    assert s.budget_forecast_threshold == 120.0
    assert s.budget_cost_filters == (("Service", ("AWS Glue",)), ("TagKeyValue", ("user:team$payments",)))
    assert s.budget_topic_encryption is True


@pytest.mark.parametrize("raw", ["false", "0", "off", False])
def test_the_capability_and_the_key_can_be_turned_off(raw: Any) -> None:
    s = Settings.from_context({"budget_alerts": raw, "budget_topic_encryption": raw})
    assert (s.budget_alerts, s.budget_topic_encryption) == (False, False)


def test_cdk_json_values_and_turning_the_forecast_notification_off() -> None:
    s = Settings.from_context(
        {
            "budget_monthly_usd": 4000,
            "budget_actual_thresholds": [80, 100, 120],
            "budget_forecast_threshold": "",
            "budget_cost_filters": {"Region": ["us-east-1"]},
        }
    )
    assert s.budget_monthly_usd == 4000.0
    assert s.budget_actual_thresholds == (80.0, 100.0, 120.0)
    assert s.budget_forecast_threshold is None
    assert s.budget_cost_filters == (("Region", ("us-east-1",)),)


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("budget_alerts", "maybe", "true or false"),
        ("budget_monthly_usd", "-5", "a number >= 0"),
        ("budget_monthly_usd", "0", "above 0"),
        ("budget_name", "a:b", "AWS Budgets name"),
        ("budget_actual_thresholds", "80,80", "distinct percentages"),
        ("budget_actual_thresholds", "0,100", "distinct percentages"),
        ("budget_actual_thresholds", "eighty", "a number"),
        ("budget_actual_thresholds", ",".join(str(n) for n in range(10, 110, 10)), "at most 10 notifications"),
        ("budget_forecast_threshold", "2000", "at most 1000"),
        ("budget_cost_filters", "Service=Glue", "JSON object of AWS Budgets cost filters"),
        ("budget_cost_filters", '{"Service": []}', "non-empty list of strings"),
        ("budget_cost_filters", '{"Service": "AWS Glue"}', "non-empty list of strings"),
        ("budget_topic_encryption", "yes please", "true or false"),
    ],
)
def test_bad_values_raise_an_error_naming_the_key(key: str, value: Any, allowed: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_context({key: value})
    assert str(error.value).startswith(f"costguard: context '{key}' ")
    assert allowed in str(error.value)
