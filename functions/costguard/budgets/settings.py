"""Budget-alerts settings, built once from the environment; a missing or bad key names itself.

The table, Slack channel and token, and the cost scope (metric, group-by, excluded record types) are the spend
watch's: the alerts read the same cost history, so an alert usually needs at most one Cost Explorer request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from costguard.settings import SettingsError, SpendWatchSettings
from costguard.spend.service import scope_of

# Lambda retries an async event for up to 6 hours: a redelivery inside that must still find the record.
MIN_IDEMPOTENCY_HOURS = 7
DEFAULT_IDEMPOTENCY_HOURS = 48


@dataclass(frozen=True)
class BudgetAlertsSettings:
    spend: SpendWatchSettings
    idempotency_hours: int = DEFAULT_IDEMPOTENCY_HOURS

    @property
    def table(self) -> str:
        return self.spend.table

    @property
    def channel(self) -> str:
        return self.spend.channel

    @property
    def scope(self) -> str:
        return scope_of(self.spend)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BudgetAlertsSettings:
        env = os.environ if env is None else env
        raw = env.get("IDEMPOTENCY_HOURS", "").strip() or str(DEFAULT_IDEMPOTENCY_HOURS)
        if not raw.isdigit() or int(raw) < MIN_IDEMPOTENCY_HOURS:
            raise SettingsError(
                f"costguard: IDEMPOTENCY_HOURS must be a whole number >= {MIN_IDEMPOTENCY_HOURS} (got {raw!r})"
            )
        return cls(spend=SpendWatchSettings.from_env(env), idempotency_hours=int(raw))
