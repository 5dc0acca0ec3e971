"""pytest plugin: record every AWS API call each Lambda handler makes, as IAM actions.

Registered in tests/conftest.py. While the functional and end-to-end tests run the handlers in-process against
moto's server, a botocore `before-parameter-build` hook (once per API call, with its parameters) on every
client (boto3's, Powertools Parameters' and Idempotency's
alike: all come from `botocore.session.Session.create_client`) records `service:Operation` as the IAM action
and attributes it to the nearest `costguard.handlers.<name>` frame on the stack. Threads started inside a
handler (the idle sweep scans regions on a pool) inherit its attribution. Calls made by the tests themselves
(seeding moto) have no handler frame and are only counted.

At session end the record goes to build/iam-calls.json (`COSTGUARD_IAM_CALLS` overrides the path);
tests/infra/test_iam_sufficiency.py checks it against the synthesized template through the `iam_calls`
fixture, which runs last, and which replays the functional and end-to-end tests in a subprocess when this
session did not run all of them (e.g. `pytest tests/infra`), so the check never depends on run order.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import weakref
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "build" / "iam-calls.json"
RECORDED_DIRS = ("tests/functional", "tests/e2e")  # the tiers that run handlers against the stand-ins
SUFFICIENCY_TESTS = "test_iam_sufficiency.py"
HANDLER_PACKAGE = "costguard.handlers."

# botocore service name -> IAM service prefix, where they differ (otherwise the client's signing name).
IAM_PREFIX = {
    "cloudwatch": "cloudwatch",  # endpoint and signing name "monitoring"
    "resourcegroupstaggingapi": "tag",  # signing name "tagging"
    "elbv2": "elasticloadbalancing",
    "elb": "elasticloadbalancing",
    "stepfunctions": "states",
    "sesv2": "ses",
}
# Operations whose IAM action has another name.
ACTION_NAME = {
    ("lambda", "Invoke"): "lambda:InvokeFunction",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "HeadBucket"): "s3:ListBucket",
}
# Calls IAM does not authorize (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html).
NEEDS_NO_PERMISSION = frozenset({"sts:GetCallerIdentity"})


def iam_action(service_name: str, signing_name: str, operation: str) -> str:
    """The IAM action a botocore operation needs, e.g. ('cloudwatch', 'monitoring', 'GetMetricData')."""
    prefix = IAM_PREFIX.get(service_name, signing_name or service_name)
    return ACTION_NAME.get((prefix, operation), f"{prefix}:{operation}")


def implied_actions(action: str, params: dict[str, Any]) -> list[str]:
    """Actions AWS checks on the caller's behalf: a SecureString read with decryption needs kms:Decrypt."""
    if action in ("ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath") and params.get("WithDecryption"):
        return ["kms:Decrypt"]
    return []


def handler_of(frame: FrameType | None) -> str | None:
    """`costguard.handlers.<name>.handler` for the nearest handler-module frame, or None."""
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if isinstance(module, str) and module.startswith(HANDLER_PACKAGE):
            return f"{module}.handler"
        frame = frame.f_back
    return None


class Recorder:
    def __init__(self) -> None:
        # handler -> IAM action -> {"count": n, "operations": [...], "tests": [...]}
        self.calls: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        self.unattributed = 0
        self.current_test = ""
        self._threads: weakref.WeakKeyDictionary[threading.Thread, str] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self._undo: list[tuple[Any, str, Any]] = []

    # --- attribution ----------------------------------------------------------------------------------------

    def attribute(self) -> str | None:
        found = handler_of(sys._getframe(2))
        if found is None:
            found = self._threads.get(threading.current_thread())
        return found

    # --- the hook -------------------------------------------------------------------------------------------

    def before_call(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        service = model.service_model
        action = iam_action(service.service_name, service.signing_name, model.name)
        handler = self.attribute()
        with self._lock:
            if handler is None:
                self.unattributed += 1
                return
            for name in (action, *implied_actions(action, params)):
                entry = self.calls[handler].setdefault(name, {"count": 0, "operations": [], "tests": []})
                entry["count"] += 1
                operation = f"{service.service_name}.{model.name}"
                if operation not in entry["operations"]:
                    entry["operations"].append(operation)
                if self.current_test and self.current_test not in entry["tests"] and len(entry["tests"]) < 5:
                    entry["tests"].append(self.current_test)

    def install(self) -> None:
        import botocore.session

        recorder = self
        original_create_client = botocore.session.Session.create_client

        def create_client(session: Any, *args: Any, **kwargs: Any) -> Any:
            client = original_create_client(session, *args, **kwargs)
            client.meta.events.register("before-parameter-build", recorder.before_call)
            return client

        original_start = threading.Thread.start

        def start(thread: threading.Thread) -> None:
            inherited = handler_of(sys._getframe(1)) or recorder._threads.get(threading.current_thread())
            if inherited is not None:
                recorder._threads[thread] = inherited
            original_start(thread)

        for owner, name, value in (
            (botocore.session.Session, "create_client", create_client),
            (threading.Thread, "start", start),
        ):
            self._undo.append((owner, name, getattr(owner, name)))
            setattr(owner, name, value)

    def uninstall(self) -> None:
        while self._undo:
            owner, name, value = self._undo.pop()
            setattr(owner, name, value)

    def as_json(self, *, complete: bool, tests: list[str]) -> dict[str, Any]:
        return {
            "about": "AWS API calls per Lambda handler, as IAM actions, recorded by tests/iam_recorder.py",
            "complete": complete,  # every functional and end-to-end test ran in the recording session
            "tests": sorted(tests),
            "unattributed_calls": self.unattributed,
            "handlers": {h: dict(sorted(a.items())) for h, a in sorted(self.calls.items())},
        }


# --- the plugin ------------------------------------------------------------------------------------------------


def _recorded_files(root: Path) -> set[Path]:
    return {p for d in RECORDED_DIRS for p in (root / d).rglob("test_*.py")}


def _in_recorded_dirs(path: Path) -> bool:
    return any(path.is_relative_to(ROOT / d) for d in RECORDED_DIRS)


class IamRecorderPlugin:
    """The session's recorder and what it saw of the recording tiers."""

    def __init__(self) -> None:
        self.recorder = Recorder()
        self.collected: set[Path] = set()
        self.deselected = False
        self.ran: list[str] = []
        self.failed = False

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """The sufficiency checks go last, after every test that records calls."""
        self.collected = {Path(item.path) for item in items if _in_recorded_dirs(Path(item.path))}
        items.sort(key=lambda item: Path(item.path).name == SUFFICIENCY_TESTS)

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.deselected = self.deselected or any(_in_recorded_dirs(Path(item.path)) for item in items)

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        # Powertools Parameters caches the Slack token process-wide: without this, only the first handler
        # a session runs would be seen reading it.
        from aws_lambda_powertools.utilities.parameters import clear_caches

        clear_caches()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        self.recorder.current_test = item.nodeid
        try:
            yield
        finally:
            self.recorder.current_test = ""

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if _in_recorded_dirs(ROOT / report.nodeid.split("::")[0]):
            if report.when == "call":
                self.ran.append(report.nodeid)
            self.failed = self.failed or report.failed

    def complete(self) -> bool:
        """Did this session run every functional and end-to-end test, all passing (a record of every handler)?"""
        on_disk = _recorded_files(ROOT)
        return (
            bool(on_disk) and self.collected == on_disk and not self.deselected and bool(self.ran) and not self.failed
        )

    def record(self) -> dict[str, Any]:
        return self.recorder.as_json(complete=self.complete(), tests=self.ran)

    def pytest_sessionfinish(self) -> None:
        if not self.recorder.calls:
            return
        path = output_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.record(), indent=2) + "\n")


_PLUGIN = pytest.StashKey[IamRecorderPlugin]()


def pytest_configure(config: pytest.Config) -> None:
    plugin = IamRecorderPlugin()
    plugin.recorder.install()
    config.stash[_PLUGIN] = plugin
    config.pluginmanager.register(plugin, "costguard-iam-recorder")


def pytest_unconfigure(config: pytest.Config) -> None:
    plugin = config.stash.get(_PLUGIN, None)
    if plugin is not None:
        plugin.recorder.uninstall()


def output_path() -> Path:
    return Path(os.environ.get("COSTGUARD_IAM_CALLS", str(DEFAULT_OUTPUT)))


def record_in_subprocess(path: Path) -> dict[str, Any]:
    """Run the functional and end-to-end tests with this plugin in a fresh interpreter; return their record."""
    dirs = [d for d in RECORDED_DIRS if (ROOT / d).is_dir()]
    env = {**os.environ, "COSTGUARD_IAM_CALLS": str(path)}
    env.pop("PYTEST_CURRENT_TEST", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *dirs, "-q", "-p", "no:cacheprovider", "-p", "no:warnings"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or not path.is_file():
        pytest.fail(
            "recording the handlers' AWS calls failed: the functional/end-to-end tests did not pass\n"
            + result.stdout[-4000:]
            + result.stderr[-2000:]
        )
    record: dict[str, Any] = json.loads(path.read_text())
    return record


@pytest.fixture(scope="session")
def iam_calls(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """{"handlers": {handler: {action: {...}}}, ...}: this session's record when it ran every functional and
    end-to-end test (the sufficiency tests are ordered last), else a fresh recording in a subprocess."""
    plugin = request.config.stash[_PLUGIN]
    if plugin.complete() and plugin.recorder.calls:
        return plugin.record()
    return record_in_subprocess(tmp_path_factory.mktemp("iam") / "iam-calls.json")
