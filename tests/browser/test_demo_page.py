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
    assert any("Idle resources" in h for h in headers)
    # Fields, threads and context links come from the blocks, not from the fallback text.
    assert page.locator(".fields").count() >= 2
    assert page.locator(".thread .msg").count() >= 1
    assert page.locator("a", has_text="Open in Cost Explorer").count() >= 1
    page.close()
