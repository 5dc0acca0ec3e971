"""Block Kit messages built with slack_sdk models. Builders take optional action elements so the
approvals capability can add buttons without reshaping the messages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InteractiveElement,
    MarkdownTextObject,
    SectionBlock,
)

from costguard.spend.explain import Explanation

KIND_LABEL = {
    "spike": "One-day spike",
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


def spend_alert(x: Explanation, actions: Sequence[InteractiveElement] = ()) -> Message:
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
                else f"{usd(e.impact)} (one day)"
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
        blocks += [DividerBlock(), ActionsBlock(elements=list(actions))]
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


def spend_recovered(series: str, day: str, actual: float, expected: float) -> Message:
    text = f":white_check_mark: {series} is back to normal on {day}: {usd(actual)} (about {usd(expected)} expected)."
    return Message(text=text, blocks=_render([SectionBlock(text=MarkdownTextObject(text=text))]))
