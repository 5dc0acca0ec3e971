"""The one Lambda asset: what local bundling puts in it, its dependency cache, and that it imports."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infra.bundling import (
    LAMBDA_PLATFORM,
    REQUIREMENTS,
    RUNTIME_PROVIDED,
    BundlingError,
    LocalBundling,
    requirements_key,
)
from tests.infra.conftest import SynthFn

pytestmark = pytest.mark.infra


def fake_asset_root(root: Path) -> Path:
    package = root / "costguard"
    for path in (
        "__init__.py",
        "handlers/__init__.py",
        "handlers/spend_watch.py",
        "handlers/__pycache__/spend_watch.cpython-311.pyc",
        "tests/test_x.py",
        "detect/conftest.py",
        "detect/test_core.py",
        "detect/core.py",
        ".mypy_cache/x",
    ):
        (package / path).parent.mkdir(parents=True, exist_ok=True)
        (package / path).write_text("x = 1\n")
    return root


def files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_stub_bundle_is_the_package_without_tests_or_caches(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    assert LocalBundling("stub", asset_root=fake_asset_root(tmp_path / "src")).try_bundle(str(out))
    assert files(out) == {
        "costguard/__init__.py",
        "costguard/handlers/__init__.py",
        "costguard/handlers/spend_watch.py",
        "costguard/detect/core.py",
    }


def test_cached_dependencies_are_copied_without_running_pip(tmp_path: Path, monkeypatch: Any) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("slack-sdk==3.48.0\n")
    cache = tmp_path / "cache"
    (cache / requirements_key(requirements) / "slack_sdk").mkdir(parents=True)
    (cache / requirements_key(requirements) / "slack_sdk" / "__init__.py").write_text("")

    def no_pip(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("pip ran on a cache hit")

    monkeypatch.setattr("infra.bundling.subprocess.run", no_pip)
    out = tmp_path / "out"
    out.mkdir()
    bundler = LocalBundling(
        "pip", asset_root=fake_asset_root(tmp_path / "src"), requirements=requirements, cache_dir=cache
    )
    assert bundler.try_bundle(str(out))
    assert "slack_sdk/__init__.py" in files(out)
    assert "costguard/handlers/spend_watch.py" in files(out)


def test_cache_key_changes_with_the_requirements_and_the_platform(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("slack-sdk==3.48.0\n")
    first = requirements_key(requirements)
    assert requirements_key(requirements, platform=()) != first
    requirements.write_text("slack-sdk==3.49.0\n")
    assert requirements_key(requirements) != first


def fake_pip(creates: list[str], returncode: int = 0, stderr: str = "") -> Any:
    def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        assert command[1:4] == ["-m", "pip", "install"]
        for flag in ("--no-deps", "--only-binary=:all:", "--no-compile", *LAMBDA_PLATFORM):
            assert flag in command
        target = Path(command[command.index("--target") + 1])
        for name in creates:
            (target / name).mkdir(parents=True, exist_ok=True)
        return subprocess.CompletedProcess(command, returncode, "", stderr)

    return run


def test_pip_failure_raises_a_clear_error_and_leaves_no_partial_cache(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr("infra.bundling.subprocess.run", fake_pip(["half"], 1, "ERROR: No matching distribution"))
    cache = tmp_path / "cache"
    with pytest.raises(BundlingError, match="No matching distribution") as error:
        LocalBundling("pip", requirements=REQUIREMENTS, cache_dir=cache).dependencies()
    assert "costguard: pip could not install" in str(error.value)
    assert list(cache.iterdir()) == []


def test_dependencies_the_runtime_provides_are_refused(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr("infra.bundling.subprocess.run", fake_pip(["slack_sdk", "botocore", "bin", "wrapt-stubs"]))
    cache = tmp_path / "cache"
    with pytest.raises(BundlingError, match="puts botocore into the Lambda asset"):
        LocalBundling("pip", requirements=REQUIREMENTS, cache_dir=cache).dependencies()
    assert list(cache.iterdir()) == []


def test_requirements_file_is_a_complete_pinned_lock_without_runtime_packages() -> None:
    lines = [ln.split("#")[0].strip() for ln in REQUIREMENTS.read_text().splitlines()]
    pins = [ln for ln in lines if ln]
    assert pins
    names = set()
    for pin in pins:
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)(\[[a-z,]+\])?==[0-9][A-Za-z0-9.]*", pin)
        assert match, f"not an exact pin: {pin!r}"
        names.add(match[1].lower().replace("_", "-"))
    assert {"aws-lambda-powertools", "slack-sdk", "pydantic"} <= names
    assert not names & {"boto3", "botocore", "s3transfer", "python-dateutil", "six", "urllib3", "moto"}


# --- the real thing -------------------------------------------------------------------------------------


def staged_asset(outdir: Path, template: dict[str, Any]) -> Path:
    """The one asset: every function (spend watch, budget alerts, idle sweep) runs from the same code."""
    functions = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    [spend_watch] = [f for f in functions if f["Properties"]["Handler"] == "costguard.handlers.spend_watch.handler"]
    asset_hash = spend_watch["Properties"]["Code"]["S3Key"].removesuffix(".zip")
    assert {f["Properties"]["Code"]["S3Key"] for f in functions} == {f"{asset_hash}.zip"}
    return outdir / f"asset.{asset_hash}"


@pytest.mark.slow
def test_real_bundle_holds_the_package_and_its_arm64_dependencies_only(synth: SynthFn) -> None:
    """pip for manylinux2014_aarch64 / cp312 (cached in build/lambda-deps after the first run)."""
    s = synth(bundling="pip")
    asset = staged_asset(s.outdir, s.json)
    top = {p.name for p in asset.iterdir()}

    assert (asset / "costguard" / "handlers" / "spend_watch.py").is_file()
    assert {"costguard", "aws_lambda_powertools", "slack_sdk", "pydantic", "pydantic_core", "aws_xray_sdk"} <= top
    assert list((asset / "pydantic_core").glob("_pydantic_core.cpython-312-aarch64-linux-gnu.so"))

    assert not top & {"boto3", "botocore", "s3transfer", "moto", "aws_cdk", "jsii", "tests", "bin"}
    assert not top & {"costguard_local", "infra", "requirements.txt"}
    everything = [p.relative_to(asset).as_posix() for p in asset.rglob("*")]
    assert not [p for p in everything if p.startswith("costguard/") and "/tests" in p]
    assert not [p for p in everything if "__pycache__" in p or p.endswith(".pyc")]

    # stub and real bundles are different assets, even within one process
    stub = synth()
    assert staged_asset(stub.outdir, stub.json).name != asset.name


@pytest.mark.slow
def test_every_costguard_module_imports_from_the_locked_dependencies(tmp_path: Path) -> None:
    """The asset's requirements, installed for this machine, next to only what the Lambda runtime adds
    (boto3 and its dependencies): a module that needs anything else fails here, not at cold start."""
    asset = tmp_path / "asset"
    asset.mkdir()
    LocalBundling("pip", platform=()).try_bundle(str(asset))

    runtime = tmp_path / "runtime"
    runtime.mkdir()
    for name in RUNTIME_PROVIDED:
        spec = importlib.util.find_spec(name.removesuffix(".py"))
        assert spec is not None and spec.origin is not None, name
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (runtime / source.name).symlink_to(source)

    program = (
        "import importlib, pkgutil, sys\n"
        f"sys.path[:0] = [{str(asset)!r}, {str(runtime)!r}]\n"
        "import costguard\n"
        "for module in pkgutil.walk_packages(costguard.__path__, 'costguard.'):\n"
        "    importlib.import_module(module.name)\n"
        "import costguard.handlers.spend_watch as h\n"
        "assert callable(h.handler)\n"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "costguard",
        "POWERTOOLS_METRICS_NAMESPACE": "Costguard",
        "POWERTOOLS_TRACER_DISABLED": "true",
    }
    # -I -S: no user site, no venv site-packages, no PYTHONPATH: only the asset and the runtime's boto3.
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", program], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
