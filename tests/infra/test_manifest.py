"""slack/manifest.yaml asks for exactly the bot scopes the code needs, and points interactivity at the stack."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_sdk import WebClient

pytestmark = pytest.mark.infra

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "slack" / "manifest.yaml"
LAMBDA_CODE = ROOT / "functions" / "costguard"

# Web API method (slack_sdk WebClient name) -> the bot scopes it needs (https://api.slack.com/methods).
# conversations.history needs the scope of the channel's kind; slack_channel_id may be public (C) or private (G).
METHOD_SCOPES: dict[str, frozenset[str]] = {
    "chat_postMessage": frozenset({"chat:write"}),
    "chat_update": frozenset({"chat:write"}),
    "chat_postEphemeral": frozenset({"chat:write"}),
    "chat_delete": frozenset({"chat:write"}),
    "conversations_history": frozenset({"channels:history", "groups:history"}),
    "conversations_replies": frozenset({"channels:history", "groups:history"}),
    "conversations_info": frozenset({"channels:read", "groups:read"}),
    "usergroups_users_list": frozenset({"usergroups:read"}),
    "usergroups_list": frozenset({"usergroups:read"}),
    "users_info": frozenset({"users:read"}),
    "reactions_add": frozenset({"reactions:write"}),
    "views_open": frozenset(),  # needs a trigger_id, no scope
    "auth_test": frozenset(),
}
_CALL = re.compile(r"\.([a-z]+_[A-Za-z]+)\(")
_API_CALL = re.compile(r"api_call\(\s*[\"']([a-z]+\.[A-Za-z.]+)[\"']")


def web_api_methods(root: Path = LAMBDA_CODE) -> set[str]:
    """Every Slack Web API method the Lambda code calls on a WebClient (by attribute or api_call)."""
    client_methods = {name for name in dir(WebClient) if not name.startswith("_")} - {"api_call"}
    found: set[str] = set()
    for source in root.rglob("*.py"):
        text = source.read_text()
        found |= {m for m in _CALL.findall(text) if m in client_methods}
        found |= {m.replace(".", "_") for m in _API_CALL.findall(text)}
    return found


def manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(MANIFEST.read_text())
    return loaded


def test_the_code_calls_slack_methods_we_know_the_scopes_of() -> None:
    methods = web_api_methods()
    assert "chat_postMessage" in methods  # the scan finds what we know is there
    unknown = methods - set(METHOD_SCOPES)
    assert not unknown, f"add the scopes of {sorted(unknown)} to METHOD_SCOPES and to slack/manifest.yaml"


def test_manifest_bot_scopes_are_exactly_those_the_code_needs() -> None:
    needed = set().union(*(METHOD_SCOPES[m] for m in web_api_methods()))
    scopes = manifest()["oauth_config"]["scopes"]
    assert set(scopes) == {"bot"}, "a bot token only: no user scopes"
    assert sorted(scopes["bot"]) == sorted(needed)
    assert len(scopes["bot"]) == len(set(scopes["bot"]))


def test_manifest_scope_comments_name_every_scope() -> None:
    text = MANIFEST.read_text()
    for scope in manifest()["oauth_config"]["scopes"]["bot"]:
        assert re.search(rf"^#\s+{re.escape(scope)}\s", text, re.MULTILINE), f"say why the app needs {scope}"


def test_manifest_enables_interactivity_with_the_stack_output_placeholder() -> None:
    settings = manifest()["settings"]
    assert settings["interactivity"]["is_enabled"] is True
    url = settings["interactivity"]["request_url"]
    assert url.startswith("https://") and "SlackInteractivityUrl" in url
    assert "SlackInteractivityUrl" in MANIFEST.read_text().split("display_information")[0]  # how to fill it in
    assert settings["socket_mode_enabled"] is False  # Slack calls the Function URL over HTTPS


def test_manifest_has_a_bot_user_and_nothing_else() -> None:
    m = manifest()
    assert set(m) == {"display_information", "features", "oauth_config", "settings"}
    assert m["features"]["bot_user"]["display_name"] == "costguard"
    assert set(m["features"]) == {"bot_user"}  # no slash commands, no event subscriptions
    assert "event_subscriptions" not in m["settings"]


def test_method_scan_finds_calls_and_api_calls(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(
        "client.chat_update(channel=c)\nclient.api_call('usergroups.users.list')\nx.not_a_method()\n"
    )
    assert web_api_methods(tmp_path) == {"chat_update", "usergroups_users_list"}
