"""Settings of the interactivity endpoint and the remediation worker, built once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from costguard.approvals.actions import REGISTRY
from costguard.approvals.authz import ApproverPolicy, PolicyError
from costguard.approvals.spend import SPEND_ACTIONS
from costguard.settings import SettingsError, _require

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")
DEFAULT_SIGNING_SECRET_PARAMETER = "/costguard/slack/signing-secret"
DEFAULT_TOKEN_PARAMETER = "/costguard/slack/bot-token"
SLACK_RESPONSE_URL_PREFIX = "https://hooks.slack.com/"
MAX_BODY_BYTES = 256 * 1024  # Slack's payload repeats the whole message; a 50-block digest stays well under
KNOWN_ACTIONS = frozenset({*REGISTRY, *SPEND_ACTIONS})  # what APPROVERS may name


def _flag(env: Mapping[str, str], key: str, default: bool) -> bool:
    raw = env.get(key, "").strip().lower()
    if not raw:
        return default
    if raw not in _TRUE + _FALSE:
        raise SettingsError(f"costguard: {key} must be true or false (got {raw!r})")
    return raw in _TRUE


def _int(env: Mapping[str, str], key: str, default: int, minimum: int = 0) -> int:
    raw = env.get(key, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < minimum:
        raise SettingsError(f"costguard: {key} must be a whole number >= {minimum} (got {raw!r})")
    return int(raw)


@dataclass(frozen=True)
class InteractionSettings:
    table: str
    channel: str
    queue_url: str
    policy: ApproverPolicy = field(default_factory=ApproverPolicy)
    signing_secret_parameter: str = DEFAULT_SIGNING_SECRET_PARAMETER
    token_parameter: str = DEFAULT_TOKEN_PARAMETER
    team_id: str = ""  # when set, clicks from any other workspace are refused
    slack_api_url: str | None = None
    response_url_prefix: str = SLACK_RESPONSE_URL_PREFIX  # only answer to Slack's own response URLs
    max_body_bytes: int = MAX_BODY_BYTES
    dry_run: bool = True  # the worker's mode: which claim an earlier click left

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> InteractionSettings:
        env = os.environ if env is None else env
        try:
            policy = ApproverPolicy.parse(
                env.get("APPROVERS", ""),
                env.get("APPROVER_GROUPS", ""),
                env.get("TWO_PERSON_ACTIONS", ""),
                KNOWN_ACTIONS,
            )
        except PolicyError as error:
            raise SettingsError(f"costguard: {error}") from None
        return cls(
            table=_require(env, "COSTGUARD_TABLE"),
            channel=_require(env, "SLACK_CHANNEL"),
            queue_url=_require(env, "APPROVALS_QUEUE_URL"),
            policy=policy,
            signing_secret_parameter=env.get("SLACK_SIGNING_SECRET_PARAMETER") or DEFAULT_SIGNING_SECRET_PARAMETER,
            token_parameter=env.get("SLACK_TOKEN_PARAMETER") or DEFAULT_TOKEN_PARAMETER,
            team_id=env.get("SLACK_TEAM_ID", "").strip(),
            slack_api_url=env.get("SLACK_API_URL") or None,
            response_url_prefix=env.get("SLACK_RESPONSE_URL_PREFIX") or SLACK_RESPONSE_URL_PREFIX,
            max_body_bytes=_int(env, "MAX_BODY_BYTES", MAX_BODY_BYTES, minimum=1024),
            dry_run=_flag(env, "DRY_RUN", True),
        )


@dataclass(frozen=True)
class WorkerSettings:
    table: str
    channel: str
    token_parameter: str = DEFAULT_TOKEN_PARAMETER
    dry_run: bool = True  # the house rule: nothing changes unless the deployment says so
    snooze_days: int = 7
    mute_days: int = 30  # a muted spend series posts no new alerts for this long
    waiter_delay: int = 15
    waiter_attempts: int = 16  # 4 minutes of a 5-minute function; a longer snapshot is resumed on the retry
    idempotency_hours: int = 24
    slack_api_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WorkerSettings:
        env = os.environ if env is None else env
        return cls(
            table=_require(env, "COSTGUARD_TABLE"),
            channel=_require(env, "SLACK_CHANNEL"),
            token_parameter=env.get("SLACK_TOKEN_PARAMETER") or DEFAULT_TOKEN_PARAMETER,
            dry_run=_flag(env, "DRY_RUN", True),
            snooze_days=_int(env, "SNOOZE_DAYS", 7, minimum=1),
            mute_days=_int(env, "MUTE_DAYS", 30, minimum=1),
            waiter_delay=_int(env, "WAITER_DELAY_SECONDS", 15, minimum=1),
            waiter_attempts=_int(env, "WAITER_MAX_ATTEMPTS", 16, minimum=1),
            idempotency_hours=_int(env, "IDEMPOTENCY_HOURS", 24, minimum=1),
            slack_api_url=env.get("SLACK_API_URL") or None,
        )


def buttons_enabled(env: Mapping[str, str] | None = None) -> bool:
    """The idle sweep adds approval buttons to its digest when the stack deploys approvals."""
    env = os.environ if env is None else env
    return _flag(env, "APPROVAL_BUTTONS", False)


@dataclass(frozen=True)
class GraceSettings:
    """The idle sweep's opt-in grace period: findings idle for `days` days are remediated automatically
    (announced a day before) through the approvals queue. 0: off."""

    days: int = 0
    queue_url: str = ""
    two_person: frozenset[str] = frozenset()  # never automatic: an automatic approval is not a second person

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GraceSettings:
        env = os.environ if env is None else env
        days = _int(env, "AUTO_REMEDIATE_DAYS", 0)
        if days == 0:
            return cls()
        two = frozenset(a.strip() for a in env.get("TWO_PERSON_ACTIONS", "").split(",") if a.strip())
        return cls(days=days, queue_url=_require(env, "APPROVALS_QUEUE_URL"), two_person=two)
