"""CDK entry point: context -> validated settings -> the Costguard stack, checked by cdk-nag.

`cdk synth` runs this through cdk.json; `make synth` runs it directly
(`CDK_OUTDIR=cdk.out python -m infra.app`). Either way the defaults in cdk.json's "context" apply and
`-c key=value` (the CLI) overrides them. The app makes no AWS calls: the stack is environment-agnostic.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from infra.settings import Settings, SettingsError
from infra.stack import STACK_NAME, CostguardStack

CDK_JSON = Path(__file__).resolve().parents[1] / "cdk.json"


def cdk_json_context(path: Path = CDK_JSON) -> dict[str, Any]:
    """The "context" defaults of cdk.json, so running without the CDK CLI synthesizes the same stack."""
    if not path.is_file():
        return {}
    context = json.loads(path.read_text()).get("context", {})
    return dict(context) if isinstance(context, dict) else {}


def build_app(context: Mapping[str, Any] | None = None, *, outdir: str | None = None) -> tuple[App, CostguardStack]:
    """The app with its one stack and cdk-nag attached. `context` overrides cdk.json (tests use it);
    context from the CDK CLI (`-c`, CDK_CONTEXT_JSON) overrides both."""
    app = App(context={**cdk_json_context(), **(context or {})}, outdir=outdir)
    settings = Settings.from_context(app.node.try_get_context)
    stack = CostguardStack(app, STACK_NAME, settings=settings)
    # cdk-nag 3 is a policy-validation plugin: it runs during synth, writes its findings to the cloud
    # assembly's validation report and fails synth on any finding that is not acknowledged.
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, write_suppressions_to_cloud_formation=True))
    return app, stack


def main() -> None:
    try:
        app, _ = build_app()
    except SettingsError as error:
        print(error, file=sys.stderr)
        sys.exit(2)
    app.synth()


if __name__ == "__main__":
    main()
