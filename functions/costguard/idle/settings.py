"""The idle sweep's settings, built once from the environment; a missing or bad key names itself."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from costguard.idle.rules import REGISTRY, RuleConfigError, build_rules
from costguard.settings import SettingsError, _require

_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_ACCOUNT_RE = re.compile(r"^\d{12}$")
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off", "")


def _list(env: Mapping[str, str], key: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(p.strip() for p in env.get(key, "").split(",") if p.strip()))


@dataclass(frozen=True)
class IdleSweepSettings:
    table: str
    channel: str
    token_parameter: str = "/costguard/slack/bot-token"
    regions: tuple[str, ...] = ()  # empty: every enabled region
    rules: tuple[str, ...] = ()  # empty: every registered rule
    thresholds: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    excluded_accounts: tuple[str, ...] = ()
    apply_tags: bool = False  # dry run unless told
    slack_api_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> IdleSweepSettings:
        env = os.environ if env is None else env
        regions = _list(env, "IDLE_REGIONS")
        bad = [r for r in regions if not _REGION_RE.match(r)]
        if bad:
            raise SettingsError(f"costguard: IDLE_REGIONS has bad region name(s) {', '.join(bad)}")
        accounts = _list(env, "EXCLUDED_ACCOUNTS")
        bad = [a for a in accounts if not _ACCOUNT_RE.match(a)]
        if bad:
            raise SettingsError(f"costguard: EXCLUDED_ACCOUNTS must be 12-digit account ids (got {', '.join(bad)})")
        rules = _list(env, "IDLE_RULES")
        raw = env.get("IDLE_THRESHOLDS", "").strip() or "{}"
        try:
            thresholds = json.loads(raw)
        except json.JSONDecodeError as error:
            raise SettingsError(f"costguard: IDLE_THRESHOLDS must be JSON ({error})") from None
        if not isinstance(thresholds, dict) or not all(isinstance(v, dict) for v in thresholds.values()):
            raise SettingsError('costguard: IDLE_THRESHOLDS must be {"rule": {"threshold": number}}')
        try:
            build_rules(rules or None, thresholds)
        except RuleConfigError as error:
            raise SettingsError(str(error)) from None
        apply = env.get("APPLY_TAGS", "").strip().lower()
        if apply not in _TRUE + _FALSE:
            raise SettingsError(f"costguard: APPLY_TAGS must be true or false (got {apply!r})")
        return cls(
            table=_require(env, "COSTGUARD_TABLE"),
            channel=_require(env, "SLACK_CHANNEL"),
            token_parameter=env.get("SLACK_TOKEN_PARAMETER", "/costguard/slack/bot-token"),
            regions=regions,
            rules=rules,
            thresholds=thresholds,
            excluded_accounts=accounts,
            apply_tags=apply in _TRUE,
            slack_api_url=env.get("SLACK_API_URL") or None,
        )

    @property
    def rule_names(self) -> tuple[str, ...]:
        return self.rules or tuple(REGISTRY)
