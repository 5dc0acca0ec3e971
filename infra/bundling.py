"""The one Lambda asset, bundled locally (no docker).

`functions/` is the asset root: the bundle holds the `costguard` package (without tests and caches)
plus the runtime dependencies from `functions/requirements.txt`, installed by pip for the Lambda
platform (arm64, CPython 3.12, wheels only). boto3 comes with the runtime and is never bundled.

`functions/requirements.txt` is a lock (every distribution pinned, installed with `--no-deps`, so
nothing the runtime already provides, such as botocore, slips in). pip runs once per requirements
file: the installed tree is kept in `build/lambda-deps/<hash>` and copied from there on every later
synth. Mode `stub` (context `bundling=stub`) skips the dependencies
for fast infra unit tests; the handler code is still the real package.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import BundlingOptions, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from infra.settings import BundlingMode

REPO_ROOT = Path(__file__).resolve().parents[1]
ASSET_ROOT = REPO_ROOT / "functions"
PACKAGE = "costguard"
REQUIREMENTS = ASSET_ROOT / "requirements.txt"
DEPS_CACHE = REPO_ROOT / "build" / "lambda-deps"

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64
LAMBDA_PLATFORM = (
    "--platform",
    "manylinux2014_aarch64",
    "--implementation",
    "cp",
    "--python-version",
    "3.12",
)
# What the Lambda Python runtime provides next to the asset (boto3 and its dependencies).
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "dateutil", "six.py", "urllib3")
# Never part of the asset: provided by the runtime, or local and test tooling.
FORBIDDEN_TOP_LEVEL = (*RUNTIME_PROVIDED, "moto", "aws_cdk", "jsii", "pytest", "costguard_local")
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "tests", "test_*.py", "conftest.py", ".*")


class BundlingError(RuntimeError):
    """The Lambda asset could not be built."""


def requirements_key(requirements: Path = REQUIREMENTS, platform: tuple[str, ...] = LAMBDA_PLATFORM) -> str:
    """Cache key of an installed dependency tree: the requirements file and the pip platform flags."""
    digest = hashlib.sha256(requirements.read_bytes())
    digest.update("\0".join(platform).encode())
    return digest.hexdigest()[:20]


@jsii.implements(ILocalBundling)
class LocalBundling:
    """Copies the package and (mode `pip`) the cached dependencies into CDK's bundling output dir."""

    def __init__(
        self,
        mode: BundlingMode,
        *,
        asset_root: Path = ASSET_ROOT,
        requirements: Path = REQUIREMENTS,
        cache_dir: Path = DEPS_CACHE,
        platform: tuple[str, ...] = LAMBDA_PLATFORM,
    ) -> None:
        self.mode = mode
        self.asset_root = asset_root
        self.requirements = requirements
        self.cache_dir = cache_dir
        self.platform = platform  # () installs for this machine: tests use it to import the handlers

    # jsii passes BundlingOptions as a positional struct we do not need; only `output_dir` matters.
    def try_bundle(self, output_dir: str, *_options: Any, **_kw: Any) -> bool:
        out = Path(output_dir)
        if self.mode == "pip":
            shutil.copytree(self.dependencies(), out, dirs_exist_ok=True)
        shutil.copytree(self.asset_root / PACKAGE, out / PACKAGE, ignore=_IGNORE, dirs_exist_ok=True)
        return True

    def dependencies(self) -> Path:
        """The installed dependency tree for the current requirements, built with pip on a cache miss."""
        target = self.cache_dir / requirements_key(self.requirements, self.platform)
        if target.is_dir():
            return target
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        staging = self.cache_dir / f".tmp-{target.name}-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        command = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-input",
            "--no-compile",  # .pyc from the build interpreter would be useless on 3.12
            "--no-deps",  # the requirements file is the complete lock
            "--target",
            str(staging),
            *self.platform,
            "--only-binary=:all:",
            "--requirement",
            str(self.requirements),
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise BundlingError(
                f"costguard: pip could not install {self.requirements} "
                f"({' '.join(self.platform) or 'for this machine'}; exit {result.returncode}):\n"
                f"{result.stderr.strip() or result.stdout.strip()}"
            )
        shutil.rmtree(staging / "bin", ignore_errors=True)  # console scripts: nothing a Lambda runs
        for stubs in staging.glob("*-stubs"):  # type stubs for checkers, not for the runtime
            shutil.rmtree(stubs, ignore_errors=True)
        for cache in staging.rglob("__pycache__"):
            shutil.rmtree(cache, ignore_errors=True)
        bundled = sorted(p.name for p in staging.iterdir() if p.name in FORBIDDEN_TOP_LEVEL)
        if bundled:
            shutil.rmtree(staging, ignore_errors=True)
            raise BundlingError(
                f"costguard: {self.requirements} puts {', '.join(bundled)} into the Lambda asset; "
                "boto3 and its dependencies come with the runtime, and tooling never ships"
            )
        try:
            staging.rename(target)
        except OSError:  # another synth finished the same install first
            shutil.rmtree(staging, ignore_errors=True)
            if not target.is_dir():
                raise
        return target


def lambda_code(mode: BundlingMode) -> lambda_.Code:
    """The one asset every costguard function runs."""
    key = requirements_key() if mode == "pip" else "none"
    return lambda_.Code.from_asset(
        str(ASSET_ROOT),
        bundling=BundlingOptions(
            # Only used if local bundling declines, which it never does: docker is not required.
            image=RUNTIME.bundling_image,
            platform="linux/arm64",
            local=LocalBundling(mode),
            # Part of CDK's in-process asset cache key, so stub and pip bundles never share a staging.
            environment={"COSTGUARD_BUNDLING": mode, "COSTGUARD_REQUIREMENTS": key},
        ),
    )
