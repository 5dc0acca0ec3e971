"""Infra tests synthesize the real app (cdk-nag attached) with `bundling=stub` unless a test says otherwise."""

from __future__ import annotations

import os

# Before aws_cdk starts its node kernel: keep CDK quiet and offline.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("CDK_DISABLE_CLI_TELEMETRY", "true")
os.environ.setdefault("CDK_DISABLE_VERSION_CHECK", "1")

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from infra.app import build_app
from infra.stack import CostguardStack

CHANNEL = "C0123ABCDEF"


@dataclass
class Synth:
    app: App
    stack: CostguardStack
    template: Template
    outdir: Path

    @property
    def json(self) -> dict[str, Any]:
        return dict(self.template.to_json())

    def resources(self, type_: str) -> dict[str, dict[str, Any]]:
        return {k: dict(v) for k, v in self.template.find_resources(type_).items()}


SynthFn = Callable[..., Synth]


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SynthFn]:
    """synth(**context) -> Synth; defaults: a real channel id and stub bundling."""

    def _synth(**context: Any) -> Synth:
        outdir = tmp_path_factory.mktemp("cdk.out")
        app, stack = build_app({"slack_channel_id": CHANNEL, "bundling": "stub", **context}, outdir=str(outdir))
        return Synth(app, stack, Template.from_stack(stack), outdir)

    yield _synth


@pytest.fixture(scope="session")
def default(synth: SynthFn) -> Synth:
    """The stack as cdk.json configures it (but with a real channel id and stub bundling)."""
    return synth()
