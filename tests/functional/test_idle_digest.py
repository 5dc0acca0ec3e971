"""The idle digest posted to the Slack stand-in (which rejects what Slack rejects): grouped by rule with
totals, split across messages when long, every finding once, with or without per-finding buttons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from costguard.adapters.slack_client import make_slack_client
from costguard.adapters.slack_notifier import SlackNotifier
from costguard.idle.model import EBS_VOLUME, NAT_GATEWAY, Finding, Resource
from costguard.idle.service import digest_messages, rule_titles
from costguard.slack import blocks
from costguard_local.standins.slack import SlackStandIn
from slack_sdk.models.blocks import ButtonElement

from tests.conftest import CHANNEL, SLACK_TOKEN

pytestmark = pytest.mark.functional
NOW = datetime(2024, 5, 1, 6, 0, tzinfo=UTC)


def findings(n: int, *, unknown_every: int = 0) -> list[Finding]:
    out = []
    for i in range(n):
        nat = i % 3 == 0
        r = Resource(
            type=NAT_GATEWAY if nat else EBS_VOLUME,
            id=f"nat-{i:017x}" if nat else f"vol-{i:017x}",
            region="us-east-1" if i % 2 else "eu-west-1",
            account="123456789012",
            name=f"resource <{i}> & co" if i % 5 == 0 else "",
            created=NOW - timedelta(days=40),
        )
        cost = None if unknown_every and i % unknown_every == 0 else 10.0 + i
        reason = "0.00 MB through it in 14 days" if nat else "gp3 100 GiB unattached, created 40 days ago " + "x" * 80
        out.append(Finding("nat-idle" if nat else "ebs-unattached", "idle", r, reason, cost))
    return out


def buttons(f: Finding) -> list[ButtonElement]:
    return [
        ButtonElement(text="Delete", action_id=f"idle_delete:{f.id}", value=f.id, style="danger"),
        ButtonElement(text="Keep", action_id=f"idle_keep:{f.id}", value=f.id),
    ]


def post_all(slack: SlackStandIn, messages: list[blocks.Message]) -> None:
    notifier = SlackNotifier(make_slack_client(SLACK_TOKEN, base_url=slack.base_url))
    for m in messages:
        notifier.post(CHANNEL, m.text, m.blocks)  # raises on invalid_blocks


@pytest.mark.parametrize("with_buttons", [False, True], ids=["plain", "buttons"])
def test_a_long_digest_is_split_and_every_part_is_accepted(slack: SlackStandIn, with_buttons: bool) -> None:
    fs = findings(1500 if not with_buttons else 150, unknown_every=7)
    messages = blocks.idle_digest(
        fs,
        day="2024-05-01",
        rule_titles=rule_titles(),
        new={fs[1].id},
        actions=buttons if with_buttons else None,
        notes=["prices as of test"],
    )
    assert len(messages) > 1
    post_all(slack, messages)
    posted = slack.messages_in(CHANNEL)
    assert len(posted) == len(messages)
    rendered = [str(m.blocks) for m in posted]
    for n, m in enumerate(posted, start=1):
        assert len(m.blocks) <= 50
        assert m.blocks[0]["type"] == "header" and f"(part {n}/{len(posted)})" in m.blocks[0]["text"]["text"]
        assert m.blocks[-1]["type"] == "context"
    for f in fs:
        assert sum(r.count(f"`{f.resource.id}`") for r in rendered) == 1, f.resource.id
    if with_buttons:
        actions = [b for m in posted for b in m.blocks if b["type"] == "actions"]
        assert sorted(b["block_id"] for b in actions) == sorted(f.id for f in fs)


def test_digest_totals_by_rule_and_unknown_prices_shown_as_unknown(slack: SlackStandIn) -> None:
    fs = findings(6, unknown_every=3)  # i = 0 and 3 (both NAT gateways) have no price
    [message] = blocks.idle_digest(fs, day="2024-05-01", rule_titles=rule_titles())
    post_all(slack, [message])
    text = str(message.blocks)
    volumes = sum(f.monthly_cost or 0 for f in fs if f.rule == "ebs-unattached")
    assert "NAT gateways with no traffic*: 2 · price unknown" in text
    assert f"EBS volumes not attached to anything*: 4 · {blocks.usd(volumes)}/month" in text
    assert f"6 found, {blocks.usd(volumes)}/month + 2 unknown" in message.blocks[0]["text"]["text"]
    assert "costs *unknown*/mo" in text
    assert "$0.00" not in text
    assert "&lt;0&gt; &amp; co" in text  # names are escaped


def test_no_findings_no_digest() -> None:
    from costguard.idle.core import Decision

    empty = Decision(findings=[], first_seen={}, tag_changes=[], states={}, resolved=[])
    assert digest_messages(empty, NOW, skipped={}, dry_run=True) == []
