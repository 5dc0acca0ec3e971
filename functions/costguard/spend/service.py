"""Daily spend watch: refresh cost history (as few Cost Explorer requests as possible), step the detector
for each series, explain new alerts, and deliver them through an outbox so a Slack outage delays, never drops."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from slack_sdk.models.blocks import InteractiveElement

from costguard.adapters.cost_explorer import CostDay, CostExplorer
from costguard.adapters.slack_notifier import Notifier
from costguard.adapters.state_store import OutboxItem, SpendStore
from costguard.approvals.spend import ALERT_RETENTION, alert_id
from costguard.detect.core import DetectorParams, SeriesState, step
from costguard.detect.model import Event
from costguard.settings import SpendWatchSettings
from costguard.slack import blocks
from costguard.spend.explain import explain

DRILL_DOWN_DAYS = 14
MUTED_ACTIONS = ("open", "grow")  # a muted series posts no new alert and no growth note
AlertButtons = Callable[[str], Sequence[InteractiveElement]]  # alert id -> buttons (approvals deployed)


class SlackDeliveryError(RuntimeError):
    """Some messages could not be posted; they stay in the outbox for the next run."""


@dataclass
class RunReport:
    day: date
    series: int = 0
    events: list[Event] = field(default_factory=list)
    ce_requests: int = 0
    posted: int = 0
    muted: int = 0  # events not posted because someone muted their series

    def as_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "series": self.series,
            "alerts": sum(e.action == "open" for e in self.events),
            "events": [
                {"series": e.series, "action": e.action, "kind": e.kind, "impact": round(e.impact, 2)}
                for e in self.events
            ],
            "ce_requests": self.ce_requests,
            "posted": self.posted,
            "muted": self.muted,
        }


def detector_params(settings: SpendWatchSettings) -> DetectorParams:
    params = DetectorParams()
    if settings.min_impact_usd is not None:
        params = replace(params, min_impact_usd=settings.min_impact_usd)
    if settings.min_impact_pct is not None:
        params = replace(params, min_impact_pct=settings.min_impact_pct)
    return params


def scope_of(settings: SpendWatchSettings) -> str:
    return f"{settings.metric}#{settings.group_by or 'SERVICE'}"


def days_between(start: date, end: date) -> list[date]:
    """[start, end)"""
    return [start + timedelta(days=i) for i in range((end - start).days)]


def refresh_history(ce: CostExplorer, store: SpendStore, scope: str, start: date, end: date) -> dict[date, CostDay]:
    """Stored days in [start, end), fetching only missing or still-estimated days: one request on a normal day."""
    known = {d.day: d for d in store.cost_days(scope, start, end)}
    stale = [d for d in days_between(start, end) if d not in known or known[d].estimated]
    if stale:
        fetched = ce.daily_costs(min(stale), end)
        store.put_cost_days(scope, fetched)
        known.update({d.day: d for d in fetched})
    return known


def run_spend_watch(
    now: datetime,
    *,
    settings: SpendWatchSettings,
    ce: CostExplorer,
    store: SpendStore,
    notifier: Notifier,
    params: DetectorParams | None = None,
    buttons: AlertButtons | None = None,
) -> RunReport:
    """Evaluate yesterday (relative to `now`, the schedule's time); catch up on any missed days. With
    `buttons`, each new alert gets an opaque id and Acknowledge/Mute buttons; muted series post nothing new
    (their state still advances: the detector never knows)."""
    params = params or detector_params(settings)
    target = now.date() - timedelta(days=1)
    scope = scope_of(settings)
    window_start = target - timedelta(days=settings.history_days - 1)
    report = RunReport(day=target)

    history = refresh_history(ce, store, scope, window_start, target + timedelta(days=1))
    dates = days_between(window_start, target + timedelta(days=1))
    names = sorted({s for d in history.values() for s in d.costs})
    stored_states = store.states(scope)
    new_states: dict[str, dict[str, Any]] = {}
    outbox: list[OutboxItem] = []

    for name in names:
        costs: list[float | None] = [history[d].costs.get(name) if d in history else None for d in dates]
        state = SeriesState.from_dict(stored_states[name]) if name in stored_states else None
        fresh = state is None
        # A series seen for the first time is replayed over the stored window silently: only today's
        # events are news. A known series steps through every day since its last run (missed runs catch up).
        first = next((i for i, c in enumerate(costs) if c is not None), len(costs))
        for i in range(first, len(dates)):
            events, state = step(name, window_start, costs[: i + 1], state, params)
            if not fresh or dates[i] == target:
                report.events.extend(events)
        if state is not None:
            new_states[name] = state.to_dict()
    report.series = len(names)

    # Follow-ups only for episodes someone was told about: an episode that opened during a silent replay
    # (first run) or before costguard was deployed has no thread, and its growth or end is not news.
    alerted = set(store.threads(scope)) | {i.series for i in store.outbox(scope) if i.action == "open"}
    muted = store.mutes(scope, now.isoformat())
    news: list[Event] = []
    for event in report.events:
        if event.series in muted and event.action in MUTED_ACTIONS:
            report.muted += 1
            continue
        if event.action == "open":
            alerted.add(event.series)
        if event.action == "open" or event.series in alerted:
            news.append(event)
        if event.action == "close":
            alerted.discard(event.series)
    report.events = news
    for seq, event in enumerate(report.events):
        outbox.append(_outbox_item(seq, event, history, ce, settings, buttons=buttons))
    report.ce_requests = ce.requests
    # Outbox before state: if we crash in between, the next run recomputes the same keys (no loss, no dupes).
    store.put_outbox(scope, outbox)
    store.put_states(scope, new_states)
    report.posted = flush_outbox(store, scope, notifier, settings.channel)
    return report


def _outbox_item(
    seq: int,
    event: Event,
    history: dict[date, CostDay],
    ce: CostExplorer,
    settings: SpendWatchSettings,
    *,
    buttons: AlertButtons | None = None,
) -> OutboxItem:
    daily = {d: c.costs.get(event.series, 0.0) for d, c in history.items()}
    estimated = history[event.day].estimated if event.day in history else False
    key = f"{event.day.isoformat()}#{seq:04d}#{event.series}#{event.action}"
    alert = ""
    if event.action == "close":
        message = blocks.spend_closed(event.series, event.day.isoformat(), event.kind, event.actual, event.expected)
    else:
        # One drill-down request per alert (growth notes reuse no extra request: they name the detector's figures).
        split = None
        if event.action == "open":
            split = ce.drill_down(
                event.series, event.day - timedelta(days=DRILL_DOWN_DAYS), event.day + timedelta(days=1)
            )
        x = explain(
            event,
            daily,
            split=split,
            driver_dimension="USAGE_TYPE",
            estimated=estimated,
            metric=settings.metric,
        )
        if event.action == "open" and buttons is not None:
            alert = alert_id(scope_of(settings), event.series, event.day)
            message = blocks.spend_alert(x, actions=buttons(alert), actions_block_id=alert)
        else:
            message = blocks.spend_alert(x) if event.action == "open" else blocks.spend_growth(x)
    return OutboxItem(
        key=key,
        series=event.series,
        action=event.action,
        payload={"text": message.text, "blocks": message.blocks},
        alert=alert,
    )


def flush_outbox(store: SpendStore, scope: str, notifier: Notifier, channel: str) -> int:
    """Post pending messages in order and return how many were posted. Stops at the first failure (threads
    keep their order) and raises SlackDeliveryError: the run fails loudly, the rest waits for the next run."""
    pending = store.outbox(scope)
    threads = store.threads(scope)
    posted = 0
    for n, item in enumerate(pending):
        thread = threads.get(item.series) if item.action != "open" else None
        try:
            ts = notifier.post(
                thread["channel"] if thread else channel,
                item.payload["text"],
                item.payload["blocks"],
                thread_ts=thread["ts"] if thread else None,
            )
        except Exception as exc:
            raise SlackDeliveryError(
                f"Slack delivery failed after {posted} message(s); {len(pending) - n} kept in the outbox"
            ) from exc
        if item.action == "open":
            threads[item.series] = {"channel": channel, "ts": ts}
            store.put_thread(scope, item.series, threads[item.series])
            if item.alert:  # the buttons' opaque id, looked up by the interactivity endpoint
                day = item.key.split("#", 1)[0]
                expires = datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC) + ALERT_RETENTION
                record = {"scope": scope, "series": item.series, "day": day, "channel": channel, "ts": ts}
                store.put_alert(item.alert, record, int(expires.timestamp()))
        elif item.action == "close":
            threads.pop(item.series, None)
            store.put_thread(scope, item.series, None)
        store.delete_outbox(scope, item.key)
        posted += 1
    return posted
