"""Per-function settings, built once from the environment; a missing or bad key names itself."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

COST_METRICS = ("UnblendedCost", "AmortizedCost", "NetUnblendedCost")


class SettingsError(ValueError):
    """A required environment variable is missing or malformed."""


def _require(env: Mapping[str, str], key: str) -> str:
    value = env.get(key, "").strip()
    if not value:
        raise SettingsError(f"costguard: environment variable {key} is required")
    return value


def _number(env: Mapping[str, str], key: str, default: float | None) -> float | None:
    raw = env.get(key, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"costguard: {key} must be a number (got {raw!r})") from None
    if value < 0:
        raise SettingsError(f"costguard: {key} must be >= 0 (got {raw!r})")
    return value


@dataclass(frozen=True)
class SpendWatchSettings:
    table: str
    channel: str
    token_parameter: str
    metric: str = "UnblendedCost"
    group_by: str = ""  # "" | LINKED_ACCOUNT | TAG:<key>
    min_impact_usd: float | None = None  # None: the detector's own default
    min_impact_pct: float | None = None
    exclude_record_types: tuple[str, ...] = ("Credit", "Refund", "Tax")
    history_days: int = 120
    slack_api_url: str | None = None  # tests and the demo point this at the stand-in

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SpendWatchSettings:
        env = os.environ if env is None else env
        metric = env.get("COST_METRIC", "UnblendedCost").strip() or "UnblendedCost"
        if metric not in COST_METRICS:
            raise SettingsError(f"costguard: COST_METRIC must be one of {', '.join(COST_METRICS)} (got {metric!r})")
        group_by = env.get("GROUP_BY", "").strip()
        if group_by and group_by != "LINKED_ACCOUNT" and not (group_by.startswith("TAG:") and len(group_by) > 4):
            raise SettingsError(f"costguard: GROUP_BY must be empty, LINKED_ACCOUNT or TAG:<key> (got {group_by!r})")
        history = int(_number(env, "HISTORY_DAYS", 120) or 0)
        if history < 60:
            raise SettingsError(f"costguard: HISTORY_DAYS must be >= 60 (got {history})")
        excluded = env.get("EXCLUDE_RECORD_TYPES", "Credit,Refund,Tax")
        return cls(
            table=_require(env, "COSTGUARD_TABLE"),
            channel=_require(env, "SLACK_CHANNEL"),
            token_parameter=env.get("SLACK_TOKEN_PARAMETER", "/costguard/slack/bot-token"),
            metric=metric,
            group_by=group_by,
            min_impact_usd=_number(env, "MIN_IMPACT_USD", None),
            min_impact_pct=_number(env, "MIN_IMPACT_PCT", None),
            exclude_record_types=tuple(t.strip() for t in excluded.split(",") if t.strip()),
            history_days=history,
            slack_api_url=env.get("SLACK_API_URL") or None,
        )
