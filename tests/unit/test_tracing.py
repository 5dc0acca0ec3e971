from __future__ import annotations

import sys
from typing import Any

import pytest
from costguard.handlers.tracing import traced


def test_disabled_tracer_never_imports_xray(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_TRACER_DISABLED", "true")
    monkeypatch.delitem(sys.modules, "aws_xray_sdk", raising=False)
    calls: list[Any] = []

    @traced
    def handler(event: Any, context: Any) -> str:
        calls.append(event)
        return "done"

    assert handler({"x": 1}, None) == "done"
    assert calls == [{"x": 1}]
    assert "aws_xray_sdk" not in sys.modules
