"""A wheel built from this tree, installed in a fresh virtualenv, works outside the checkout.

One test, marked slow: it builds the wheel, makes a venv, installs the wheel (dependencies from
the package index through pip's cache), then, in an empty folder, runs what a new user runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_SKIP = shutil.ignore_patterns(".git", ".venv", "var", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
                               "tests", "bench")


def _run(args: list[str | Path], cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_a_wheel_installed_outside_the_checkout_inits_checks_and_runs_the_demo(tmp_path: Path) -> None:
    started = time.monotonic()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOTS_", "PYTHON", "VIRTUAL_ENV"))}
    src = tmp_path / "src"
    shutil.copytree(REPO, src, ignore=_SKIP)  # build from a copy: nothing lands in the checkout
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                  tmp_path / "dist", src], tmp_path, env)
    assert built.returncode == 0, built.stderr
    wheel = next((tmp_path / "dist").glob("rcm_bots-*.whl"))

    venv = tmp_path / "venv"
    assert _run([sys.executable, "-m", "venv", venv], tmp_path, env).returncode == 0
    py, bots = venv / "bin" / "python", venv / "bin" / "bots"
    installed = _run([py, "-m", "pip", "install", "-q", f"{wheel}[mock]"], tmp_path, env, timeout=600)
    assert installed.returncode == 0, installed.stderr
    phases = {"build and install": time.monotonic() - started}

    work = tmp_path / "empty"
    work.mkdir()
    no_config = _run([bots, "scheduler", "jobs"], work, env)
    assert no_config.returncode == 2 and "config: configuration folder not found" in no_config.stderr

    init = _run([bots, "init"], work, env)
    assert init.returncode == 0 and (work / "config" / "bots.toml").is_file() and (work / ".env.example").is_file()
    check = _run([bots, "config", "check"], work, env)
    assert check.returncode == 0 and check.stdout.startswith("OK: "), check.stdout + check.stderr
    version = _run([bots, "--version"], work, env)
    assert version.returncode == 0 and version.stdout.startswith("rcm-bots ")
    helped = _run([py, "-m", "bots", "-h"], work, env)
    assert helped.returncode == 0 and "Usage: bots" in helped.stdout and "init" in helped.stdout

    before_demo = time.monotonic()
    demo = _run([bots, "demo"], work, env, timeout=400)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "rcm-bots demo" in demo.stdout and (work / "var" / "demo" / "exceptions.xlsx").is_file()
    phases["demo"] = time.monotonic() - before_demo
    print("wheel install test: " + ", ".join(f"{k} {v:.0f}s" for k, v in phases.items())
          + f", total {time.monotonic() - started:.0f}s")
