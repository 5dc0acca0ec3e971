"""Deliver one cost notice: refresh the spend watch's cost history (usually one Cost Explorer request, often
none), enrich, post to Slack. Slack failing raises (the invocation fails, Lambda retries, then dead-letters);
Cost Explorer failing only costs the enrichment: the alert itself goes out, saying so."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import InteractiveElement

from costguard.adapters.cost_explorer import CostExplorer
from costguard.adapters.slack_notifier import Notifier
from costguard.adapters.state_store import SpendStore
from costguard.budgets.enrich import AlertView, SpendContext, build_view, history_window, spend_context
from costguard.budgets.model import CostNotice, Unparsed
from costguard.budgets.settings import BudgetAlertsSettings
from costguard.slack import blocks
from costguard.spend.service import refresh_history


class AlertDeliveryError(RuntimeError):
    """Slack did not take the alert; the invocation fails so Lambda retries it and then dead-letters it."""


def enrich(
    notice: CostNotice, *, settings: BudgetAlertsSettings, ce: CostExplorer, store: SpendStore
) -> tuple[SpendContext | None, str | None]:
    """The spend context and, when Cost Explorer or the store could not be read, why not."""
    if isinstance(notice.detail, Unparsed):
        return None, None  # nothing to say what it is about: spend no request on it
    from botocore.exceptions import BotoCoreError, ClientError

    start, end = history_window(notice.received_at)
    try:
        history = refresh_history(ce, store, settings.scope, start, end)
    except ClientError as e:
        return None, str(e.response.get("Error", {}).get("Code", "ClientError"))
    except BotoCoreError as e:
        return None, type(e).__name__
    return spend_context(history, notice.received_at), None


def render(view: AlertView, actions: Sequence[InteractiveElement] = ()) -> blocks.Message:
    if isinstance(view.notice.detail, Unparsed):
        return blocks.unparsed_notice(view.notice, actions)
    return blocks.cost_notice_alert(view, actions)


def deliver_notice(
    notice: CostNotice,
    *,
    settings: BudgetAlertsSettings,
    ce: CostExplorer,
    store: SpendStore,
    notifier: Notifier,
    actions: Sequence[InteractiveElement] = (),
) -> dict[str, Any]:
    requests_before = ce.requests
    spend, error = enrich(notice, settings=settings, ce=ce, store=store)
    view = build_view(notice, spend, metric=settings.spend.metric, enrichment_error=error)
    message = render(view, actions)
    try:
        ts = notifier.post(settings.channel, message.text, message.blocks)
    except Exception as exc:
        raise AlertDeliveryError(
            f"Slack did not take the {notice.detail.kind} alert for delivery {notice.delivery_id}"
        ) from exc
    return {
        "delivery_id": notice.delivery_id,
        "kind": notice.detail.kind,
        "severity": view.severity,
        "channel": settings.channel,
        "ts": ts,
        "enriched": spend is not None,
        "enrichment_error": error,
        "ce_requests": ce.requests - requests_before,
    }
