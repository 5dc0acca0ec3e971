"""Block Kit messages built with slack_sdk models. Builders take optional action elements so the
approvals capability can add buttons without reshaping the messages."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InteractiveElement,
    MarkdownTextObject,
    SectionBlock,
)

from costguard.spend.explain import DAYS_PER_MONTH, Explanation

if TYPE_CHECKING:
    from costguard.budgets.enrich import AlertView
    from costguard.budgets.model import CostNotice
    from costguard.idle.model import Finding as IdleFinding

KIND_LABEL = {
    "spike": "Sudden jump",
    "level_shift": "Sustained increase",
    "ramp": "Steady climb (possible leak)",
    "new_spend": "New spend",
}
SECTION_TEXT_LIMIT = 3000
HEADER_LIMIT = 150


@dataclass(frozen=True)
class Message:
    text: str  # notification and accessibility fallback
    blocks: list[dict[str, Any]]


def usd(amount: float) -> str:
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    return f"{sign}${amount:,.0f}" if amount >= 100 else f"{sign}${amount:,.2f}"


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _render(blocks: Sequence[Block]) -> list[dict[str, Any]]:
    return [b.to_dict() for b in blocks]


def button(
    action_id: str, text: str, value: str, *, style: str | None = None, confirm: tuple[str, str] | None = None
) -> ButtonElement:
    """An action button; `value` carries only an opaque id. `confirm` = (title, question) asks before sending."""
    dialog = None
    if confirm is not None:
        dialog = ConfirmObject(
            title=_truncate(confirm[0], 100), text=_truncate(confirm[1], 300), confirm="Yes", deny="Cancel"
        )
    return ButtonElement(text=_truncate(text, 75), action_id=action_id, value=value, style=style, confirm=dialog)


def status_context(block_id: str, text: str) -> dict[str, Any]:
    """A one-line context block, e.g. the outcome that replaces a finding's buttons in place."""
    block = ContextBlock(block_id=block_id, elements=[MarkdownTextObject(text=_truncate(text, SECTION_TEXT_LIMIT))])
    return block.to_dict()


def spend_alert(
    x: Explanation, actions: Sequence[InteractiveElement] = (), actions_block_id: str | None = None
) -> Message:
    e = x.event
    pct = f" (+{x.pct:.0f}%)" if x.pct is not None else ""
    title = f"{e.series}: {usd(e.impact)}/day above normal{pct}"
    fields = [
        MarkdownTextObject(text=f"*What*\n{KIND_LABEL.get(e.kind, e.kind)} on {e.day.isoformat()}"),
        MarkdownTextObject(text=f"*Expected → actual*\n{usd(e.expected)} → {usd(e.actual)}"),
        MarkdownTextObject(
            text="*Projected impact*\n"
            + (
                f"{usd(x.monthly_impact)}/month if it stays"
                if x.monthly_impact is not None
                else f"{usd(e.impact)} so far; {usd(e.impact * DAYS_PER_MONTH)}/month if it stays"
            )
        ),
        MarkdownTextObject(
            text=f"*Month to date*\n{usd(x.month_to_date)} vs {usd(x.same_days_last_month)} same days last month"
        ),
        MarkdownTextObject(text=f"*Month-end forecast*\n{usd(x.forecast_month_end)} at the recent run-rate"),
    ]
    blocks: list[Block] = [
        HeaderBlock(text=_truncate(":chart_with_upwards_trend: " + title, HEADER_LIMIT)),
        SectionBlock(fields=fields),
    ]
    if x.drivers:
        lines = [f"*Behind it ({x.driver_dimension.lower().replace('_', ' ')}):*"]
        lines += [f"• `{d.name}` {usd(d.expected)} → {usd(d.actual)} (*+{usd(d.delta)}*)" for d in x.drivers]
        blocks.append(SectionBlock(text=MarkdownTextObject(text=_truncate("\n".join(lines), SECTION_TEXT_LIMIT))))
    notes = [f"Last 30 days `{x.sparkline}`", f"<{x.console_url}|Open in Cost Explorer>"]
    if x.estimated:
        notes.append("figures for recent days are AWS estimates and may still change")
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=" · ".join(notes))]))
    if actions:
        blocks += [DividerBlock(), ActionsBlock(block_id=actions_block_id, elements=list(actions))]
    text = f"costguard: {title}. {KIND_LABEL.get(e.kind, e.kind)} on {e.day.isoformat()}."
    return Message(text=text, blocks=_render(blocks))


def spend_growth(x: Explanation) -> Message:
    e = x.event
    text = (
        f":arrow_double_up: Still growing on {e.day.isoformat()}: {usd(e.actual)} vs {usd(e.expected)} expected, "
        f"now *{usd(e.impact)}/day* above normal."
    )
    if x.drivers:
        top = x.drivers[0]
        text += f" Biggest mover: `{top.name}` (+{usd(top.delta)})."
    return Message(text=text, blocks=_render([SectionBlock(text=MarkdownTextObject(text=text))]))


def spend_closed(series: str, day: str, kind: str, actual: float, expected: float) -> Message:
    """The episode ends: spend went back down ("recovered"), or the new level has held long enough that the
    detector now treats it as normal ("new_normal") and will alert again only on a further change."""
    if kind == "new_normal":
        text = (
            f":information_source: {series} has stayed at the new level, {usd(actual)} on {day}; costguard now "
            "treats it as normal and will alert again only if it moves further."
        )
    else:
        text = (
            f":white_check_mark: {series} is back to normal on {day}: {usd(actual)} (about {usd(expected)} expected)."
        )
    return Message(text=text, blocks=_render([SectionBlock(text=MarkdownTextObject(text=text))]))


# --- budget, billing-alarm and cost-anomaly alerts (costguard.budgets) -------------------------------------

SEVERITY_EMOJI = {
    "critical": ":rotating_light:",
    "high": ":red_circle:",
    "warning": ":large_orange_circle:",
    "info": ":large_blue_circle:",
    "unknown": ":grey_question:",
}
FIELD_LIMIT = 2000
RAW_SHOWN = 2800  # of an unparsed message, inside a section (3000 with the fences and escapes' headroom)


def _esc(text: str) -> str:
    """Slack mrkdwn control characters in text we did not write (budget names, alarm reasons, raw messages)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _field(title: str, body: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=_truncate(f"*{title}*\n{body}", FIELD_LIMIT))


def _change(now: float, before: float) -> str:
    return f" ({(now - before) / before * 100:+.0f}%)" if before > 0.005 else ""


def _money(amount: float, unit: str) -> str:
    return usd(amount) if unit == "USD" else f"{amount:,.2f} {unit}"


def cost_notice_alert(view: AlertView, actions: Sequence[InteractiveElement] = ()) -> Message:
    """A budget, billing-alarm or anomaly alert that says what is driving spend and where the month will end;
    `actions` leave room for the approvals capability's buttons."""
    from costguard.budgets.model import BillingAlarm, BudgetAlert, CostAnomaly
    from costguard.spend.explain import console_url as cost_explorer_url

    d = view.notice.detail
    fields: list[MarkdownTextObject] = []
    sections: list[str] = []
    root_services: set[str] = set()
    if isinstance(d, BudgetAlert):
        pct = f"{d.pct_of_budget:.0f}% of {_money(d.budgeted_amount, d.unit)}" if d.pct_of_budget is not None else ""
        verb = "forecast to reach" if d.alert_type == "FORECASTED" else "has reached"
        title = f"Budget {d.budget_name} {verb} {_money(d.amount, d.unit)}" + (f": {pct}" if pct else "")
        limit = f" ({d.threshold_pct:.0f}% of budget)" if d.threshold_pct is not None else ""
        fields.append(
            _field(
                "Alert",
                f"{d.alert_type.title()} cost above {_money(d.threshold, d.unit)}{limit}",
            )
        )
        fields.append(
            _field("Budget", f"{_esc(d.budget_name)}: {_money(d.budgeted_amount, d.unit)} per {d.period or 'period'}")
        )
        b = view.budget
        if b is not None:
            source = "AWS Budgets" if b.spent_from == "aws_budgets" else "account month to date"
            if b.left < 0:
                fields.append(_field("Over budget", f"by {usd(-b.left)} ({usd(b.spent)} spent, {source})"))
            elif b.per_day_left is not None:
                pace = f"; running at {usd(view.spend.run_rate)}/day" if view.spend else ""
                fields.append(
                    _field(
                        "Left this month",
                        f"{usd(b.left)} = {usd(b.per_day_left)}/day for {b.days_left} days{pace} ({source})",
                    )
                )
    elif isinstance(d, BillingAlarm):
        observed = f"{_money(d.observed, d.currency)} " if d.observed is not None else ""
        if d.new_state == "ALARM":
            limit = _money(d.trigger.threshold, d.currency)
            title = f"Billing alarm {d.alarm_name}: estimated charges {observed}above {limit}"
        elif d.new_state == "OK":
            title = f"Billing alarm {d.alarm_name} is OK again"
        else:
            title = f"Billing alarm {d.alarm_name} has insufficient data"
        fields.append(_field("State", f"{d.old_state or '?'} → {d.new_state}"))
        fields.append(_field("Threshold", f"{d.trigger.metric_name} ≥ {_money(d.trigger.threshold, d.currency)}"))
        if d.reason:
            fields.append(_field("Why", _esc(_truncate(d.reason, 300))))
    elif isinstance(d, CostAnomaly):
        i = d.impact
        title = f"Cost anomaly in {d.subject}: {usd(i.total_impact)} above expected"
        pct = f" ({i.total_impact_percentage:+.0f}%)" if i.total_impact_percentage is not None else ""
        expected = f" over {usd(i.total_expected_spend)} expected" if i.total_expected_spend is not None else ""
        fields.append(_field("Impact", f"{usd(i.total_impact)}{pct}{expected}; at most {usd(i.max_impact)} a day"))
        if d.start is not None:
            until = f" to {d.end.date().isoformat()}" if d.end is not None and d.end.date() != d.start.date() else ""
            fields.append(_field("Since", f"{d.start.date().isoformat()}{until}"))
        if d.monitor_name:
            fields.append(_field("Monitor", _esc(d.monitor_name)))
        causes = []
        for c in d.root_causes[:5]:
            root_services.add(c.service or "")
            where = [x for x in (c.region, c.linked_account_name or c.linked_account) if x]
            usage = f" `{_esc(c.usage_type)}`" if c.usage_type else ""
            causes.append(f"• `{_esc(c.service or '?')}`{usage}" + (f" ({_esc(', '.join(where))})" if where else ""))
        if causes:
            sections.append("*Root causes (Cost Anomaly Detection):*\n" + "\n".join(causes))
    else:
        raise TypeError(f"not an alert notice: {type(d).__name__}")

    s = view.spend
    notes: list[str] = []
    if s is not None:
        fields.append(
            _field(
                "Month to date",
                f"{usd(s.month_to_date)} vs {usd(s.same_days_last_month)} same days last month"
                f"{_change(s.month_to_date, s.same_days_last_month)}",
            )
        )
        fields.append(_field("Month-end forecast", f"{usd(s.forecast_month_end)} at {usd(s.run_rate)}/day recently"))
        if s.movers:
            lines = ["*Top movers (month to date vs same days last month):*"]
            for m in s.movers:
                mark = " ← root cause" if m.service in root_services else ""
                before_after = f"{usd(m.same_days_last_month)} → {usd(m.this_month)}"
                lines.append(f"• `{_esc(m.series)}` {before_after} (*+{usd(m.delta)}*){mark}")
            sections.append("\n".join(lines))
        notes.append(f"Last 30 days `{s.trend}`")
    if view.console_url:
        label = {"budget": "Open the budget", "billing_alarm": "Open the alarm", "anomaly": "Open the anomaly"}[d.kind]
        notes.append(f"<{view.console_url}|{label}>")
    if s is not None and s.movers:
        top = s.movers[0]
        notes.append(f"<{cost_explorer_url(top.service, s.as_of, view.metric)}|{_esc(top.service)} in Cost Explorer>")
    if s is not None and s.estimated:
        notes.append("this month's figures are partly AWS estimates")
    if view.enrichment_error:
        notes.append(f":warning: no spend context: Cost Explorer unavailable ({_esc(view.enrichment_error)})")
    notes.append(f"{view.notice.via.upper()} {view.notice.received_at:%Y-%m-%d %H:%M} UTC")

    emoji = SEVERITY_EMOJI.get(view.severity, SEVERITY_EMOJI["unknown"])
    out: list[Block] = [
        HeaderBlock(text=_truncate(f"{emoji} {title}", HEADER_LIMIT)),
        SectionBlock(fields=fields[:10]),
    ]
    out += [SectionBlock(text=MarkdownTextObject(text=_truncate(x, SECTION_TEXT_LIMIT))) for x in sections]
    out.append(ContextBlock(elements=[MarkdownTextObject(text=_truncate(" · ".join(notes), SECTION_TEXT_LIMIT))]))
    if actions:
        out += [DividerBlock(), ActionsBlock(elements=list(actions))]
    text = f"costguard [{view.severity}]: {title}."
    if s is not None:
        text += f" Month-end forecast {usd(s.forecast_month_end)}."
        if s.movers:
            text += f" Top mover: {s.movers[0].series} (+{usd(s.movers[0].delta)})."
    return Message(text=_truncate(text, 3000), blocks=_render(out))


def unparsed_notice(notice: CostNotice, actions: Sequence[InteractiveElement] = ()) -> Message:
    """A notification costguard could not read (an Unparsed detail), posted as received, truncated to Slack's
    limits, and clearly marked: never dropped."""
    from costguard.budgets.model import Unparsed

    d = notice.detail
    if not isinstance(d, Unparsed):
        raise TypeError(f"not an unparsed notice: {type(d).__name__}")
    raw = d.raw.replace("```", "'''")
    shown = _truncate(raw, RAW_SHOWN)
    subject = f"*Subject:* {_esc(notice.subject)}\n" if notice.subject else ""
    cut = f" (first {RAW_SHOWN:,} of {len(raw):,} characters)" if len(raw) > RAW_SHOWN else ""
    out: list[Block] = [
        HeaderBlock(text=f"{SEVERITY_EMOJI['unknown']} Cost notification costguard could not read (unparsed)"),
        SectionBlock(text=MarkdownTextObject(text=_truncate(f"{subject}*Why:* {_esc(d.reason)}", SECTION_TEXT_LIMIT))),
        SectionBlock(text=MarkdownTextObject(text=_truncate(f"```{_esc(shown)}```", SECTION_TEXT_LIMIT))),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=f"Posted as received{cut} · {notice.via.upper()} delivery `{_esc(notice.delivery_id)}` · "
                    f"{notice.received_at:%Y-%m-%d %H:%M} UTC"
                )
            ]
        ),
    ]
    if actions:
        out += [DividerBlock(), ActionsBlock(elements=list(actions))]
    text = f"costguard: unparsed cost notification: {notice.subject or d.reason}"
    return Message(text=_truncate(text, 3000), blocks=_render(out))


# --- idle resource digest (costguard.idle) -----------------------------------------------------------------

MAX_BLOCKS = 50


def _money_or_unknown(amount: float | None) -> str:
    return "unknown" if amount is None else usd(amount)


def _totals(costs: Sequence[float | None]) -> str:
    known = [c for c in costs if c is not None]
    unknown = len(costs) - len(known)
    if not known and unknown:
        return "price unknown"  # never a silent $0
    text = f"{usd(sum(known))}/month"
    return text + (f" + {unknown} unknown" if unknown else "")


def idle_line(f: IdleFinding, *, new: bool = False) -> str:
    """One finding as a line: label, where, what it costs, why."""
    r = f.resource
    label = (
        f"`{_esc(r.name)}`"
        if r.name and r.id.startswith("arn:")
        else f"`{r.id}`" + (f" ({_esc(r.name)})" if r.name and r.name != r.id else "")
    )
    verb = "saves" if f.kind == "saving" else "costs"
    flag = " :new:" if new else ""
    return f"• {label} · {r.region} · {verb} *{_money_or_unknown(f.monthly_cost)}*/mo — {_esc(f.reason)}{flag}"


def idle_digest(
    findings: Sequence[IdleFinding],
    *,
    day: str,
    rule_titles: Mapping[str, str],
    new: Collection[str] = (),
    actions: Callable[[IdleFinding], Sequence[InteractiveElement]] | None = None,
    notes: Sequence[str] = (),
    max_blocks: int = MAX_BLOCKS,
) -> list[Message]:
    """The daily digest, grouped by rule with totals; split into as many messages as Block Kit's limits
    (`max_blocks` per message, 3000 characters per section) need. `actions(finding)` gives that finding
    its own section and an actions block (block_id = the finding id) for the approvals capability."""
    groups: dict[str, list[IdleFinding]] = {}
    for f in findings:
        groups.setdefault(f.rule, []).append(f)
    idle_costs = [f.monthly_cost for f in findings if f.kind == "idle"]
    saving_costs = [f.monthly_cost for f in findings if f.kind == "saving"]
    headline = f"Idle resources {day}: {len(idle_costs)} found, {_totals(idle_costs)}"
    if saving_costs:
        headline += f"; {len(saving_costs)} cheaper options, {_totals(saving_costs)} saved"

    summary = [
        f"• *{_esc(rule_titles.get(rule, rule))}*: {len(fs)} · {_totals([f.monthly_cost for f in fs])}"
        + (" saved" if fs[0].kind == "saving" else "")
        for rule, fs in groups.items()
    ]
    units: list[list[Block]] = [
        [SectionBlock(text=MarkdownTextObject(text=_truncate("\n".join(summary), SECTION_TEXT_LIMIT)))]
    ]
    for rule, fs in groups.items():
        title = f"*{_esc(rule_titles.get(rule, rule))}* ({len(fs)}, {_totals([f.monthly_cost for f in fs])})"
        units.append([DividerBlock(), SectionBlock(text=MarkdownTextObject(text=_truncate(title, SECTION_TEXT_LIMIT)))])
        if actions is not None:
            for f in fs:
                text = _truncate(idle_line(f, new=f.id in new), SECTION_TEXT_LIMIT)
                section = SectionBlock(text=MarkdownTextObject(text=text))
                elements = list(actions(f))
                units.append([section, ActionsBlock(block_id=f.id, elements=elements)] if elements else [section])
            continue
        chunk: list[str] = []
        for f in fs:
            line = _truncate(idle_line(f, new=f.id in new), SECTION_TEXT_LIMIT)
            if chunk and len("\n".join([*chunk, line])) > SECTION_TEXT_LIMIT:
                units.append([SectionBlock(text=MarkdownTextObject(text="\n".join(chunk)))])
                chunk = []
            chunk.append(line)
        if chunk:
            units.append([SectionBlock(text=MarkdownTextObject(text="\n".join(chunk)))])

    footer = " · ".join(notes) if notes else ""
    reserve = 1 + (1 if footer else 0)  # the header and the footer of every message
    pages: list[list[Block]] = [[]]
    for unit in units:
        if pages[-1] and len(pages[-1]) + len(unit) > max_blocks - reserve:
            pages.append([])
        pages[-1].extend(unit)
    messages = []
    for n, page in enumerate(pages, start=1):
        part = f" (part {n}/{len(pages)})" if len(pages) > 1 else ""
        header = HeaderBlock(text=_truncate(":broom: " + headline + part, HEADER_LIMIT))
        blocks: list[Block] = [header, *page]
        if footer:
            blocks.append(ContextBlock(elements=[MarkdownTextObject(text=_truncate(footer, SECTION_TEXT_LIMIT))]))
        messages.append(Message(text=_truncate(f"costguard: {headline}{part}", 3000), blocks=_render(blocks)))
    return messages
