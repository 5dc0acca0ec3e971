from __future__ import annotations

import pytest
from costguard.settings import SettingsError, SpendWatchSettings

BASE = {"COSTGUARD_TABLE": "t", "SLACK_CHANNEL": "C1"}


def test_defaults() -> None:
    s = SpendWatchSettings.from_env(BASE)
    assert (s.metric, s.group_by, s.history_days) == ("UnblendedCost", "", 120)
    assert s.exclude_record_types == ("Credit", "Refund", "Tax")
    assert s.min_impact_usd is None  # the detector's own default applies


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({}, "COSTGUARD_TABLE"),
        ({"COSTGUARD_TABLE": "t"}, "SLACK_CHANNEL"),
        ({**BASE, "COST_METRIC": "BlendedCost"}, "COST_METRIC"),
        ({**BASE, "GROUP_BY": "REGION"}, "GROUP_BY"),
        ({**BASE, "MIN_IMPACT_USD": "ten"}, "MIN_IMPACT_USD"),
        ({**BASE, "HISTORY_DAYS": "30"}, "HISTORY_DAYS"),
    ],
)
def test_bad_or_missing_values_name_their_key(env: dict[str, str], names: str) -> None:
    with pytest.raises(SettingsError, match=names):
        SpendWatchSettings.from_env(env)


def test_overrides_parse() -> None:
    s = SpendWatchSettings.from_env(
        {**BASE, "GROUP_BY": "TAG:team", "MIN_IMPACT_USD": "25", "EXCLUDE_RECORD_TYPES": "Credit"}
    )
    assert (s.group_by, s.min_impact_usd, s.exclude_record_types) == ("TAG:team", 25.0, ("Credit",))
