"""Shared stand-ins: moto's server over HTTP and the Slack Web API stand-in, started once per session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from costguard_local.standins.aws import FAKE_ENV, MotoStandIn
from costguard_local.standins.slack import SlackStandIn

for _k, _v in FAKE_ENV.items():  # never reach a real account from the tests
    os.environ[_k] = _v
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Costguard")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "costguard")
os.environ.setdefault("POWERTOOLS_TRACER_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_DEV", "false")

# Records every AWS call each handler makes (tests/infra/test_iam_sufficiency.py checks them against IAM).
pytest_plugins = ["tests.iam_recorder"]

SLACK_TOKEN = "xoxb-costguard-test"
CHANNEL = "C0COSTGUARD"


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoStandIn]:
    server = MotoStandIn().start()
    yield server
    server.stop()


@pytest.fixture
def moto(moto_server: MotoStandIn, monkeypatch: pytest.MonkeyPatch) -> MotoStandIn:
    """A clean moto account per test, with boto3 pointed at it."""
    moto_server.reset()
    for k, v in moto_server.env().items():
        monkeypatch.setenv(k, v)
    return moto_server


@pytest.fixture(scope="session")
def slack_server() -> Iterator[SlackStandIn]:
    with SlackStandIn(tokens=[SLACK_TOKEN], channels=[CHANNEL]) as server:
        yield server


@pytest.fixture
def slack(slack_server: SlackStandIn) -> SlackStandIn:
    slack_server.reset()
    slack_server.up()
    return slack_server
