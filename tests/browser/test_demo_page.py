"""The demo's Slack-like page in headless Chromium: what the handlers posted is rendered from its Block Kit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from costguard_local.demo import DemoWorld


@pytest.fixture(scope="module")
def world() -> Iterator[DemoWorld]:
    with DemoWorld() as w:
        w.run_story()
        w.serve()
        yield w


def test_page_renders_the_conversation_from_block_kit(world: DemoWorld, browser: Any) -> None:
    page = browser.new_page()
    assert world.page_url is not None
    page.goto(world.page_url)
    page.wait_for_selector(".msg")
    headers = page.locator(".header-block").all_inner_texts()
    assert any("AWS Glue" in h and "above normal" in h for h in headers)
    assert any("Budget costguard-monthly" in h for h in headers)
    # The recent spike injected on top of the real billing, explained by its usage type.
    assert any("Amazon Elastic Compute Cloud - Compute" in h and "above normal" in h for h in headers)
    assert page.locator("code", has_text="USE1-BoxUsage:p3.2xlarge").count() == 1
    assert any("Idle resources" in h for h in headers)
    # Fields, threads and context links come from the blocks, not from the fallback text.
    assert page.locator(".fields").count() >= 2
    assert page.locator(".thread .msg").count() >= 1
    assert page.locator("a", has_text="Open in Cost Explorer").count() >= 1
    page.close()


def _volume_exists(world: DemoWorld, region: str, volume_id: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        world.moto.client("ec2", region).describe_volumes(VolumeIds=[volume_id])
    except ClientError as error:
        if "NotFound" in str(error):
            return False
        raise
    return True


def _finding(world: DemoWorld, action_id: str) -> dict[str, Any]:
    from costguard.idle.store import DynamoIdleStore
    from costguard_local.demo import DEMO_TABLE
    from costguard_local.idle_seed import ACCOUNT

    fid = action_id.rsplit(":", 1)[-1]
    record: dict[str, Any] = DynamoIdleStore(world.moto.client("dynamodb"), DEMO_TABLE).findings(ACCOUNT)[fid]
    return {**record, "id": fid}


def test_snapshot_and_delete_from_the_page_remediates_and_updates_the_message(world: DemoWorld, browser: Any) -> None:
    page = browser.new_page()
    assert world.page_url is not None
    page.goto(world.page_url)
    page.select_option("#user", "U0ALICE")
    button = page.get_by_role("button", name="Snapshot & delete", exact=True).first
    finding = _finding(world, button.get_attribute("data-action-id"))
    volume, region = finding["resource_id"], finding["region"]
    assert _volume_exists(world, region, volume)

    button.click()
    # The worker snapshots, waits for completion, deletes, then updates the digest in place and replies.
    page.wait_for_function(
        "v => document.querySelector('#feed').innerText.includes(v) && "
        "[...document.querySelectorAll('.thread .msg')].some(m => m.innerText.includes(v))",
        arg=volume,
        timeout=60_000,
    )
    page.wait_for_selector(".edited", timeout=30_000)
    assert not _volume_exists(world, region, volume)
    snapshots = world.moto.client("ec2", region).describe_snapshots(
        OwnerIds=["self"], Filters=[{"Name": "tag:costguard:remediation", "Values": [finding["id"]]}]
    )["Snapshots"]
    assert len(snapshots) == 1 and snapshots[0]["VolumeId"] == volume
    page.close()


def test_a_non_approver_sees_the_refusal_and_nothing_happens(world: DemoWorld, browser: Any) -> None:
    page = browser.new_page()
    assert world.page_url is not None
    page.goto(world.page_url)
    page.select_option("#user", "U0BOB")
    button = page.get_by_role("button", name="Snapshot & delete", exact=True).last
    finding = _finding(world, button.get_attribute("data-action-id"))
    button.click()
    refusal = page.locator(".msg.ephemeral", has_text="not an approver")
    refusal.wait_for(timeout=15_000)
    assert "only visible to you" in refusal.inner_text()
    assert _volume_exists(world, finding["region"], finding["resource_id"])
    page.close()
