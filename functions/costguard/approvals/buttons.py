"""The buttons a digest finding gets: one per action its rule offers; values carry only the finding id."""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import InteractiveElement

from costguard.approvals.actions import actions_for
from costguard.approvals.model import action_id
from costguard.idle.model import Finding
from costguard.slack import blocks


def finding_buttons(f: Finding) -> Sequence[InteractiveElement]:
    out: list[InteractiveElement] = []
    for a in actions_for(f.rule):
        confirm = None
        if a.destructive:
            confirm = (f"{a.label}?", f"{a.label}: `{f.resource.name or f.resource.id}`. This cannot be undone.")
        style = "danger" if a.destructive else ("primary" if a.id not in ("snooze", "keep") else None)
        out.append(blocks.button(action_id(a.id, f.id), a.label, f.id, style=style, confirm=confirm))
    return out
