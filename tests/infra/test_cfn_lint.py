"""cfn-lint on the synthesized template: no errors and no warnings."""

from __future__ import annotations

import pytest
from cfnlint.api import ManualArgs, lint_file

from tests.infra.conftest import SynthFn

pytestmark = pytest.mark.infra


@pytest.mark.parametrize(
    "context",
    [{}, {"tracing": "true", "group_by": "LINKED_ACCOUNT", "min_impact_usd": "5"}],
    ids=["default", "options"],
)
def test_cfn_lint_finds_nothing(synth: SynthFn, context: dict[str, str]) -> None:
    s = synth(**context)
    template = s.outdir / "Costguard.template.json"
    matches = lint_file(template, config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
    assert [f"{m.rule.id} {m.message} ({m.path})" for m in matches] == []
