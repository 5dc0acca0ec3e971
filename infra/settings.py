"""Deploy-time settings, parsed once from CDK context and validated.

Context reaches the app from `cdk.json` ("context": JSON-typed values) and from `-c key=value`
(always strings), so every parser accepts both. A bad value raises `SettingsError` naming the key,
what is allowed and what was given; nothing here touches AWS or the environment.
"""

from __future__ import annotations

import json
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
OpsAlarms = Literal["off", "lean", "full"]
OPS_ALARM_LEVELS = ("off", "lean", "full")
HEARTBEAT_HOURS_RANGE = (2, 168)  # an alarm with 1-hour periods may look back at most 7 days
_EMAIL_RE = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[A-Za-z]{2,}$")


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


DEFAULT_IDLE_SCHEDULE = "cron(0 6 * * ? *)"
_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_ACCOUNT_RE = re.compile(r"^\d{12}$")

# Budget alerts (infra/constructs/budget_alerts.py): AWS Budgets allows ten notifications per budget.
MAX_BUDGET_NOTIFICATIONS = 10
_BUDGET_NAME_RE = re.compile(r"^[^:\\]{1,100}$")
_COST_FILTER_KEY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]{1,63}$")


def _thresholds(raw: object, key: str, default: tuple[float, ...]) -> tuple[float, ...]:
    """Percentages of the budget, e.g. "80,100" or [80, 100]; each > 0 and <= 1000, no repeats."""
    if raw is None:
        return default
    items: list[object]
    if isinstance(raw, str):
        items = [part.strip() for part in raw.split(",") if part.strip()]
    elif isinstance(raw, list):
        items = list(raw)
    else:
        raise _fail(key, "a comma-separated list of percentages such as '80,100'", raw)
    values = [_number(item, key, None, minimum=0.0) for item in items]
    if any(v is None or not 0 < v <= 1000 for v in values) or len(set(values)) != len(values):
        raise _fail(key, "distinct percentages of the budget, each above 0 and at most 1000", raw)
    return tuple(sorted(v for v in values if v is not None))


def _cost_filters(raw: object, key: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """AWS Budgets CostFilters: {"Service": ["Amazon Elastic Compute Cloud - Compute"], ...} (JSON from -c)."""
    if raw is None or raw == "":
        return ()
    allowed = 'a JSON object of AWS Budgets cost filters, e.g. {"Service": ["AWS Glue"]}'
    value = raw
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            raise _fail(key, allowed, raw) from None
    if not isinstance(value, dict):
        raise _fail(key, allowed, raw)
    out = []
    for name, values in sorted(value.items()):
        if (
            not isinstance(name, str)
            or not _COST_FILTER_KEY_RE.match(name)
            or not isinstance(values, list)
            or not values
            or not all(isinstance(v, str) and v.strip() for v in values)
        ):
            raise _fail(key, allowed + " (a non-empty list of strings per filter)", raw)
        out.append((name, tuple(v.strip() for v in values)))
    return tuple(out)


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
    # budget alerts: SNS topic + Lambda + anomaly rule; a monthly budget only when budget_monthly_usd is set
    budget_alerts: bool = True
    budget_monthly_usd: float | None = None
    budget_name: str = ""  # "" lets CloudFormation name it
    budget_actual_thresholds: tuple[float, ...] = (80.0, 100.0)
    budget_forecast_threshold: float | None = 100.0  # None: no FORECASTED notification
    budget_cost_filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    budget_topic_encryption: bool = False  # True: a customer-managed KMS key ($1/month)
    # idle sweep (infra/constructs/idle_sweep.py): daily scan for idle resources; rules from the registry
    idle_sweep: bool = True
    idle_sweep_schedule: str = DEFAULT_IDLE_SCHEDULE
    idle_regions: tuple[str, ...] = ()  # empty: every enabled region
    idle_rules: tuple[str, ...] = ()  # empty: every registered rule
    idle_thresholds: str = "{}"  # JSON {"rule": {"threshold": number}}, validated against the registry
    idle_excluded_accounts: tuple[str, ...] = ()
    idle_apply_tags: bool = True  # False: a dry run, and the role gets no tagging permission
    # self-monitoring (infra/constructs/monitoring.py): alarms to an ops SNS topic
    ops_alarms: OpsAlarms = "lean"  # lean: heartbeats + unwatched DLQs; full: + every function's errors/throttles
    ops_email: str = ""  # "": no email subscription (subscribe to the OpsTopicArn output yourself)
    ops_heartbeat_hours: int = 26  # alarm when a scheduled capability has not succeeded for this long
    # approvals (infra/constructs/approvals.py): Slack buttons → Function URL → queue → remediation worker
    approvals: bool = False  # opt-in: it deploys a public (Slack-signed) endpoint; set up the Slack app first
    approvals_dry_run: bool = True  # the worker records what it would have done and changes nothing
    approvers: str = "{}"  # JSON {"<action>" or "*": ["U0123ABCD", "S0123ABCD"]}, checked against the registry
    approver_groups: tuple[str, ...] = ()  # Slack user-group ids approving every action
    two_person_actions: tuple[str, ...] = ()  # actions that need two different approvers
    slack_signing_secret_parameter: str = "/costguard/slack/signing-secret"
    slack_team_id: str = ""  # "": any workspace whose request Slack signed with the secret
    approvals_snooze_days: int = 7
    approvals_mute_days: int = 30  # Mute on a spend alert: no new alerts for that series for this long
    approvals_auto_remediate_days: int = 0  # 0: off; N: idle N days, announced on day N-1, remediated on day N

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
        "budget_alerts",
        "budget_monthly_usd",
        "budget_name",
        "budget_actual_thresholds",
        "budget_forecast_threshold",
        "budget_cost_filters",
        "budget_topic_encryption",
        "idle_sweep",
        "idle_sweep_schedule",
        "idle_regions",
        "idle_rules",
        "idle_thresholds",
        "idle_excluded_accounts",
        "idle_apply_tags",
        "ops_alarms",
        "ops_email",
        "ops_heartbeat_hours",
        "approvals",
        "approvals_dry_run",
        "approvers",
        "approver_groups",
        "two_person_actions",
        "slack_signing_secret_parameter",
        "slack_team_id",
        "approvals_snooze_days",
        "approvals_mute_days",
        "approvals_auto_remediate_days",
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

        settings = cls(
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
            **_budget_alerts(get),
            **_idle_sweep(get),
            **_ops(get),
            **_approvals(get),
        )
        _check_heartbeat(settings, get("ops_heartbeat_hours"))
        return settings

    @property
    def uses_placeholder_channel(self) -> bool:
        return self.slack_channel_id == PLACEHOLDER_CHANNEL

    @property
    def log_retention(self) -> logs.RetentionDays:
        return LOG_RETENTION_DAYS[self.log_retention_days]


def _budget_alerts(get: Callable[[str], Any]) -> dict[str, Any]:
    """The budget-alerts keys of Settings, validated (see infra/constructs/budget_alerts.py)."""
    name = _text(get("budget_name"), "budget_name", "")
    if name and not _BUDGET_NAME_RE.match(name):
        raise _fail("budget_name", "empty or an AWS Budgets name (at most 100 characters, no ':' or '\\')", name)
    amount = _number(get("budget_monthly_usd"), "budget_monthly_usd", None, minimum=0.0)
    if amount is not None and amount <= 0:
        raise _fail("budget_monthly_usd", "empty or a monthly amount in USD above 0", get("budget_monthly_usd"))
    actual = _thresholds(get("budget_actual_thresholds"), "budget_actual_thresholds", (80.0, 100.0))
    raw_forecast = get("budget_forecast_threshold")
    forecast = _number(raw_forecast, "budget_forecast_threshold", 100.0 if raw_forecast is None else None)
    if forecast is not None and not 0 < forecast <= 1000:
        raise _fail("budget_forecast_threshold", "empty or a percentage above 0 and at most 1000", raw_forecast)
    if len(actual) + (forecast is not None) > MAX_BUDGET_NOTIFICATIONS:
        raise _fail(
            "budget_actual_thresholds",
            f"at most {MAX_BUDGET_NOTIFICATIONS} notifications with the forecast one (AWS Budgets' limit)",
            get("budget_actual_thresholds"),
        )
    return {
        "budget_alerts": _boolean(get("budget_alerts"), "budget_alerts", True),
        "budget_monthly_usd": amount,
        "budget_name": name,
        "budget_actual_thresholds": actual,
        "budget_forecast_threshold": forecast,
        "budget_cost_filters": _cost_filters(get("budget_cost_filters"), "budget_cost_filters"),
        "budget_topic_encryption": _boolean(get("budget_topic_encryption"), "budget_topic_encryption", False),
    }


def _names(raw: object, key: str, pattern: re.Pattern[str], allowed: str) -> tuple[str, ...]:
    """A comma-separated string or a list of names, each matching `pattern`; duplicates dropped."""
    if raw is None or raw == "":
        return ()
    if isinstance(raw, str):
        items: list[object] = [part.strip() for part in raw.split(",") if part.strip()]
    elif isinstance(raw, list):
        items = [part.strip() if isinstance(part, str) else part for part in raw]
    else:
        raise _fail(key, allowed, raw)
    if not all(isinstance(item, str) and pattern.match(item) for item in items):
        raise _fail(key, allowed, raw)
    return tuple(dict.fromkeys(str(item) for item in items))


def _idle_sweep(get: Callable[[str], Any]) -> dict[str, Any]:
    """The idle-sweep keys of Settings; rule names and thresholds are checked against the rule registry."""
    from costguard.idle.rules import RuleConfigError, build_rules

    rules = _names(get("idle_rules"), "idle_rules", re.compile(r"^[a-z0-9-]+$"), "a comma-separated list of rule names")
    raw = get("idle_thresholds")
    thresholds: object = {} if raw is None or raw == "" else raw
    if isinstance(thresholds, str):
        try:
            thresholds = json.loads(thresholds)
        except json.JSONDecodeError:
            raise _fail(
                "idle_thresholds", 'a JSON object such as {"ebs-unattached": {"unattached_days": 14}}', raw
            ) from None
    if not isinstance(thresholds, dict) or not all(isinstance(v, dict) for v in thresholds.values()):
        raise _fail("idle_thresholds", 'a JSON object such as {"ebs-unattached": {"unattached_days": 14}}', raw)
    try:
        build_rules(rules or None, thresholds)
    except RuleConfigError as error:
        raise SettingsError(f"costguard: context 'idle_rules'/'idle_thresholds': {error}") from None
    schedule = get("idle_sweep_schedule")
    return {
        "idle_sweep": _boolean(get("idle_sweep"), "idle_sweep", True),
        "idle_sweep_schedule": _schedule(
            DEFAULT_IDLE_SCHEDULE if schedule is None else schedule, "idle_sweep_schedule"
        ),
        "idle_regions": _names(get("idle_regions"), "idle_regions", _REGION_RE, "a comma-separated list of regions"),
        "idle_rules": rules,
        "idle_thresholds": json.dumps(thresholds, sort_keys=True),
        "idle_excluded_accounts": _names(
            get("idle_excluded_accounts"),
            "idle_excluded_accounts",
            _ACCOUNT_RE,
            "a comma-separated list of account ids",
        ),
        "idle_apply_tags": _boolean(get("idle_apply_tags"), "idle_apply_tags", True),
    }


def _ops(get: Callable[[str], Any]) -> dict[str, Any]:
    """The self-monitoring keys of Settings (see infra/constructs/monitoring.py)."""
    level = _text(get("ops_alarms"), "ops_alarms", "lean").lower()
    if level not in OPS_ALARM_LEVELS:
        raise _fail("ops_alarms", "one of " + ", ".join(OPS_ALARM_LEVELS), get("ops_alarms"))
    email = _text(get("ops_email"), "ops_email", "")
    if email and (len(email) > 254 or not _EMAIL_RE.match(email)):
        raise _fail("ops_email", "empty or one email address such as ops@example.com", get("ops_email"))
    lo, hi = HEARTBEAT_HOURS_RANGE
    hours = _integer(
        get("ops_heartbeat_hours"),
        "ops_heartbeat_hours",
        26,
        allowed=f"a whole number of hours from {lo} to {hi}",
        ok=lambda n: lo <= n <= hi,
    )
    return {
        "ops_alarms": "off" if level == "off" else "full" if level == "full" else "lean",
        "ops_email": email,
        "ops_heartbeat_hours": hours,
    }


def schedule_gap_hours(expression: str) -> float | None:
    """The longest time between two runs of a valid schedule, when it is plain: `rate(...)`, or a cron that runs
    on every day of every month. None for anything else (weekdays only, some days of the month...)."""
    rate = _RATE_RE.match(expression)
    if rate:
        per_unit = {"minute": 1 / 60, "hour": 1.0, "day": 24.0}[rate["unit"].rstrip("s")]
        return int(rate["n"]) * per_unit
    cron = _CRON_RE.match(expression)
    if not cron:
        return None
    _minutes, hours, day_of_month, month, day_of_week, _year = cron["body"].split()
    if {day_of_month, day_of_week} <= {"*", "?"} and month == "*":
        return 24.0 if re.fullmatch(r"\d+", hours) else None if hours != "*" else 1.0
    return None


def _check_heartbeat(settings: Settings, raw: object) -> None:
    """The heartbeat alarms must wait longer than the gap between two scheduled runs, or they cry wolf."""
    if settings.ops_alarms == "off":
        return
    schedules = {"spend_watch_schedule": settings.spend_watch_schedule}
    if settings.idle_sweep:
        schedules["idle_sweep_schedule"] = settings.idle_sweep_schedule
    for key, expression in schedules.items():
        gap = schedule_gap_hours(expression)
        if gap is not None and settings.ops_heartbeat_hours < gap + 1:
            raise _fail(
                "ops_heartbeat_hours",
                f"at least one hour more than the longest gap between runs of {key} ({gap:g} hours)",
                settings.ops_heartbeat_hours if raw is None else raw,
            )


def _approvals(get: Callable[[str], Any]) -> dict[str, Any]:
    """The approvals keys of Settings; approvers and actions are checked against the action registry."""
    from costguard.approvals.authz import ApproverPolicy, PolicyError
    from costguard.approvals.settings import KNOWN_ACTIONS

    raw = get("approvers")
    approvers: object = {} if raw is None or raw == "" else raw
    if isinstance(approvers, str):
        try:
            approvers = json.loads(approvers)
        except json.JSONDecodeError:
            raise _fail(
                "approvers", 'a JSON object such as {"*": ["U0123ABCD"], "release-eip": ["S0123ABCD"]}', raw
            ) from None
    groups = _names(get("approver_groups"), "approver_groups", re.compile(r"^S[A-Z0-9]{2,20}$"), "Slack user-group ids")
    two = _names(get("two_person_actions"), "two_person_actions", re.compile(r"^[a-z-]+$"), "action ids")
    try:
        ApproverPolicy.parse(json.dumps(approvers), ",".join(groups), ",".join(two), KNOWN_ACTIONS)
    except PolicyError as error:
        raise SettingsError(f"costguard: context 'approvers'/'approver_groups'/'two_person_actions': {error}") from None
    secret = _text(
        get("slack_signing_secret_parameter"), "slack_signing_secret_parameter", "/costguard/slack/signing-secret"
    )
    if not _PARAMETER_RE.match(secret) or secret.lstrip("/").lower().startswith(("aws", "ssm")):
        raise _fail(
            "slack_signing_secret_parameter", "an SSM parameter name such as /costguard/slack/signing-secret", secret
        )
    team = _text(get("slack_team_id"), "slack_team_id", "")
    if team and not re.match(r"^[TE][A-Z0-9]{2,20}$", team):
        raise _fail("slack_team_id", "empty or a Slack team id such as T0123ABCD", team)
    auto = _integer(
        get("approvals_auto_remediate_days"),
        "approvals_auto_remediate_days",
        0,
        allowed="0 (off) or 1 to 90 days",
        ok=lambda n: 0 <= n <= 90,
    )
    enabled = _boolean(get("approvals"), "approvals", False)
    if auto and not enabled:
        raise _fail("approvals_auto_remediate_days", "0 unless approvals is true (it queues through approvals)", auto)
    return {
        "approvals": enabled,
        "approvals_dry_run": _boolean(get("approvals_dry_run"), "approvals_dry_run", True),
        "approvers": json.dumps(approvers, sort_keys=True),
        "approver_groups": groups,
        "two_person_actions": two,
        "slack_signing_secret_parameter": secret,
        "slack_team_id": team,
        "approvals_snooze_days": _integer(
            get("approvals_snooze_days"), "approvals_snooze_days", 7, allowed="1 to 90 days", ok=lambda n: 1 <= n <= 90
        ),
        "approvals_mute_days": _integer(
            get("approvals_mute_days"), "approvals_mute_days", 30, allowed="1 to 365 days", ok=lambda n: 1 <= n <= 365
        ),
        "approvals_auto_remediate_days": auto,
    }
