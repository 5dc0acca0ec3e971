"""Deploy-time settings, parsed once from CDK context and validated.

Context reaches the app from `cdk.json` ("context": JSON-typed values) and from `-c key=value`
(always strings), so every parser accepts both. A bad value raises `SettingsError` naming the key,
what is allowed and what was given; nothing here touches AWS or the environment.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from aws_cdk import aws_logs as logs

COST_METRICS = ("UnblendedCost", "AmortizedCost", "NetUnblendedCost")
BUNDLING_MODES = ("pip", "stub")
PLACEHOLDER_CHANNEL = "CXXXXXXXXXX"
DEFAULT_TOKEN_PARAMETER = "/costguard/slack/bot-token"
DEFAULT_SCHEDULE = "cron(0 13 * * ? *)"
DEFAULT_EXCLUDE_RECORD_TYPES = ("Credit", "Refund", "Tax")
HISTORY_DAYS_RANGE = (60, 395)  # the runtime needs >= 60; Cost Explorer keeps ~13 months of daily data

# Every retention CloudWatch Logs accepts, in days (no INFINITE: every log group must expire).
_R = logs.RetentionDays
LOG_RETENTION_DAYS: Mapping[int, logs.RetentionDays] = {
    1: _R.ONE_DAY, 3: _R.THREE_DAYS, 5: _R.FIVE_DAYS, 7: _R.ONE_WEEK, 14: _R.TWO_WEEKS,
    30: _R.ONE_MONTH, 60: _R.TWO_MONTHS, 90: _R.THREE_MONTHS, 120: _R.FOUR_MONTHS,
    150: _R.FIVE_MONTHS, 180: _R.SIX_MONTHS, 365: _R.ONE_YEAR, 400: _R.THIRTEEN_MONTHS,
    545: _R.EIGHTEEN_MONTHS, 731: _R.TWO_YEARS, 1096: _R.THREE_YEARS, 1827: _R.FIVE_YEARS,
    2192: _R.SIX_YEARS, 2557: _R.SEVEN_YEARS, 2922: _R.EIGHT_YEARS, 3288: _R.NINE_YEARS,
    3653: _R.TEN_YEARS,
}  # fmt: skip

_CHANNEL_RE = re.compile(r"^[CG][A-Z0-9]{6,}$")
_PARAMETER_RE = re.compile(r"^/?[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*$")
_TAG_KEY_RE = re.compile(r"^[\w .:/=+\-@]{1,128}$")
_RECORD_TYPE_RE = re.compile(r"^[A-Za-z][A-Za-z ]*$")
_RATE_RE = re.compile(r"^rate\((?P<n>[1-9]\d*) (?P<unit>minute|minutes|hour|hours|day|days)\)$")
_CRON_RE = re.compile(r"^cron\((?P<body>[^()]+)\)$")
_CRON_FIELD_RE = re.compile(r"^[0-9A-Za-z*?,/\-#]+$")

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")

BundlingMode = Literal["pip", "stub"]


class SettingsError(ValueError):
    """A context value is missing or not one the stack can deploy."""


def _fail(key: str, allowed: str, raw: object) -> SettingsError:
    return SettingsError(f"costguard: context '{key}' must be {allowed} (got {raw!r})")


def _text(raw: object, key: str, default: str) -> str:
    if raw is None:
        return default
    if not isinstance(raw, str | int | float) or isinstance(raw, bool):
        raise _fail(key, "a string", raw)
    return str(raw).strip()


def _number(raw: object, key: str, default: float | None, *, minimum: float = 0.0) -> float | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return default
    if isinstance(raw, bool):
        raise _fail(key, f"a number >= {minimum:g}", raw)
    try:
        value = float(raw) if isinstance(raw, str | int | float) else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < minimum:
        raise _fail(key, f"a number >= {minimum:g}", raw)
    return value


def _integer(raw: object, key: str, default: int, *, allowed: str, ok: Callable[[int], bool]) -> int:
    if raw is None:
        return default
    value: int | None = None
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif isinstance(raw, str) and re.fullmatch(r"\s*\d+\s*", raw):
        value = int(raw)
    if value is None or not ok(value):
        raise _fail(key, allowed, raw)
    return value


def _boolean(raw: object, key: str, default: bool) -> bool:
    if raw is None:
        return default
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in _TRUE + _FALSE:
        return raw.strip().lower() in _TRUE
    raise _fail(key, "true or false", raw)


def _schedule(raw: object, key: str) -> str:
    value = _text(raw, key, DEFAULT_SCHEDULE)
    allowed = "an EventBridge schedule such as 'cron(0 13 * * ? *)' or 'rate(1 day)'"
    rate = _RATE_RE.match(value)
    if rate:
        singular = rate["unit"] in ("minute", "hour", "day")
        if singular != (rate["n"] == "1"):
            raise _fail(key, allowed + " (use 'rate(1 day)' but 'rate(2 days)')", raw)
        return value
    cron = _CRON_RE.match(value)
    if not cron:
        raise _fail(key, allowed, raw)
    fields = cron["body"].split()
    if len(fields) != 6 or not all(_CRON_FIELD_RE.match(f) for f in fields):
        raise _fail(key, allowed + " with six fields: minutes hours day-of-month month day-of-week year", raw)
    day_of_month, day_of_week = fields[2], fields[4]
    if (day_of_month == "?") == (day_of_week == "?"):
        raise _fail(key, allowed + " with '?' in exactly one of day-of-month and day-of-week", raw)
    return value


def _group_by(raw: object, key: str) -> str:
    value = _text(raw, key, "")
    if value in ("", "LINKED_ACCOUNT"):
        return value
    if value.startswith("TAG:") and _TAG_KEY_RE.match(value[4:]):
        return value
    raise _fail(key, "empty, 'LINKED_ACCOUNT' or 'TAG:<tag key>'", raw)


def _record_types(raw: object, key: str) -> tuple[str, ...]:
    if raw is None:
        return DEFAULT_EXCLUDE_RECORD_TYPES
    items: list[object]
    if isinstance(raw, str):
        items = [part.strip() for part in raw.split(",") if part.strip()]
    elif isinstance(raw, list):
        items = [part.strip() if isinstance(part, str) else part for part in raw]
    else:
        raise _fail(key, "a comma-separated list of Cost Explorer record types", raw)
    if not all(isinstance(item, str) and _RECORD_TYPE_RE.match(item) for item in items):
        raise _fail(key, "a comma-separated list of Cost Explorer record types (e.g. 'Credit,Refund,Tax')", raw)
    return tuple(str(item) for item in items)


@dataclass(frozen=True)
class Settings:
    """Everything the stack needs to know at synth time; built by `from_context`, never mutated."""

    slack_channel_id: str = PLACEHOLDER_CHANNEL
    slack_token_parameter: str = DEFAULT_TOKEN_PARAMETER
    spend_watch_schedule: str = DEFAULT_SCHEDULE
    cost_metric: str = "UnblendedCost"
    group_by: str = ""
    min_impact_usd: float | None = None  # None: the detector's own default
    min_impact_pct: float | None = None
    exclude_record_types: tuple[str, ...] = DEFAULT_EXCLUDE_RECORD_TYPES
    history_days: int = 120
    log_retention_days: int = 30
    tracing: bool = False
    bundling: BundlingMode = "pip"

    KEYS = (
        "slack_channel_id",
        "slack_token_parameter",
        "spend_watch_schedule",
        "cost_metric",
        "group_by",
        "min_impact_usd",
        "min_impact_pct",
        "exclude_record_types",
        "history_days",
        "log_retention_days",
        "tracing",
        "bundling",
    )

    @classmethod
    def from_context(cls, context: Mapping[str, Any] | Callable[[str], Any]) -> Settings:
        """Parse and validate; `context` is a mapping or a getter such as `app.node.try_get_context`."""
        get: Callable[[str], Any] = context.get if isinstance(context, Mapping) else context

        channel = _text(get("slack_channel_id"), "slack_channel_id", PLACEHOLDER_CHANNEL)
        if not _CHANNEL_RE.match(channel):
            raise _fail("slack_channel_id", "a Slack channel id like C0123456789 (C or G, then A-Z/0-9)", channel)

        parameter = _text(get("slack_token_parameter"), "slack_token_parameter", DEFAULT_TOKEN_PARAMETER)
        if (
            not _PARAMETER_RE.match(parameter)
            or len(parameter) > 1011
            or parameter.lstrip("/").lower().startswith(("aws", "ssm"))
        ):
            raise _fail(
                "slack_token_parameter",
                "an SSM parameter name such as /costguard/slack/bot-token (not starting with aws or ssm)",
                parameter,
            )

        metric = _text(get("cost_metric"), "cost_metric", "UnblendedCost")
        if metric not in COST_METRICS:
            raise _fail("cost_metric", "one of " + ", ".join(COST_METRICS), metric)

        history_lo, history_hi = HISTORY_DAYS_RANGE
        retention_allowed = "one of the CloudWatch Logs retentions " + ", ".join(map(str, LOG_RETENTION_DAYS))
        bundling = _text(get("bundling"), "bundling", "pip")
        if bundling not in BUNDLING_MODES:
            raise _fail("bundling", "one of " + ", ".join(BUNDLING_MODES), bundling)

        return cls(
            slack_channel_id=channel,
            slack_token_parameter=parameter,
            spend_watch_schedule=_schedule(get("spend_watch_schedule"), "spend_watch_schedule"),
            cost_metric=metric,
            group_by=_group_by(get("group_by"), "group_by"),
            min_impact_usd=_number(get("min_impact_usd"), "min_impact_usd", None),
            min_impact_pct=_number(get("min_impact_pct"), "min_impact_pct", None),
            exclude_record_types=_record_types(get("exclude_record_types"), "exclude_record_types"),
            history_days=_integer(
                get("history_days"),
                "history_days",
                120,
                allowed=f"a whole number of days from {history_lo} to {history_hi}",
                ok=lambda n: history_lo <= n <= history_hi,
            ),
            log_retention_days=_integer(
                get("log_retention_days"),
                "log_retention_days",
                30,
                allowed=retention_allowed,
                ok=lambda n: n in LOG_RETENTION_DAYS,
            ),
            tracing=_boolean(get("tracing"), "tracing", False),
            bundling="stub" if bundling == "stub" else "pip",
        )

    @property
    def uses_placeholder_channel(self) -> bool:
        return self.slack_channel_id == PLACEHOLDER_CHANNEL

    @property
    def log_retention(self) -> logs.RetentionDays:
        return LOG_RETENTION_DAYS[self.log_retention_days]
