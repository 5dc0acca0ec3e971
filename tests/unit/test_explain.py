from __future__ import annotations

from datetime import date, timedelta

from costguard.detect.model import Event
from costguard.slack.blocks import spend_alert, spend_closed, usd
from costguard.spend.explain import explain, forecast_month_end, month_to_date, sparkline, top_drivers
from costguard_local.standins.slack import check_blocks


def _daily(start: date, values: list[float]) -> dict[date, float]:
    return {start + timedelta(days=i): v for i, v in enumerate(values)}


def test_sparkline_scales_between_min_and_max() -> None:
    assert sparkline([1, 1, 1]) == "▁▁▁"
    line = sparkline([0, 5, 10])
    assert line[0] == "▁" and line[-1] == "█" and len(line) == 3


def test_month_to_date_compares_same_days_and_clips_short_months() -> None:
    daily = _daily(date(2018, 2, 1), [1.0] * 28) | _daily(date(2018, 3, 1), [2.0] * 31)
    this, last = month_to_date(daily, date(2018, 3, 31))
    assert this == 62.0
    assert last == 28.0  # February has only 28 days to compare with


def test_forecast_uses_median_run_rate_so_one_spike_does_not_dominate() -> None:
    values = [10.0] * 14
    values[-1] = 500.0  # today spikes
    daily = _daily(date(2018, 10, 1), values)
    # MTD = 13*10 + 500 = 630; 17 remaining days at the median of the last 7 days (10)
    assert forecast_month_end(daily, date(2018, 10, 14)) == 630 + 17 * 10


def test_top_drivers_rank_by_increase_and_drop_flat_ones() -> None:
    day = date(2018, 10, 20)
    split = {
        "BoxUsage:m5.large": _daily(day - timedelta(days=14), [10.0] * 14 + [40.0]),
        "DataTransfer-Out": _daily(day - timedelta(days=14), [5.0] * 14 + [5.0]),
        "EBS:VolumeUsage": _daily(day - timedelta(days=14), [1.0] * 14 + [3.0]),
    }
    drivers = top_drivers(split, day)
    assert [d.name for d in drivers] == ["BoxUsage:m5.large", "EBS:VolumeUsage"]
    assert drivers[0].delta == 30.0


def test_alert_message_is_valid_block_kit_and_says_what_matters() -> None:
    day = date(2018, 10, 10)
    event = Event(
        series="AWS Glue",
        day=day,
        action="open",
        kind="level_shift",
        expected=53.0,
        actual=106.0,
        impact=53.0,
    )
    daily = _daily(day - timedelta(days=40), [53.0] * 40 + [106.0])
    x = explain(
        event,
        daily | {day + timedelta(days=1): 9999.0},
        split=None,
        driver_dimension="USAGE_TYPE",
        estimated=True,
        metric="UnblendedCost",
    )
    assert x.monthly_impact == 53.0 * 30.4
    assert "9999" not in x.sparkline  # later days are never used
    message = spend_alert(x)
    assert check_blocks(message.blocks) == []
    text = str(message.blocks)
    assert "$53.00/day above normal (+100%)" in text
    assert "Sustained increase" in text and "estimates" in text
    assert "AWS Glue" in message.text


def test_recovered_note_and_money_format() -> None:
    assert usd(1234.5) == "$1,234" or usd(1234.5) == "$1,235"
    assert usd(9.5) == "$9.50"
    assert usd(-3) == "-$3.00"
    note = spend_closed("AWS Glue", "2018-11-21", "recovered", 0.0, 105.0)
    assert check_blocks(note.blocks) == []
    assert "back to normal" in note.text
    held = spend_closed("AWS Glue", "2018-11-07", "new_normal", 103.0, 53.0)
    assert "back to normal" not in held.text and "treats it as normal" in held.text
