"""Production settings: no default secret, and `manage.py check --deploy` is clean."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.sqlite


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL"))}
    base.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_check_deploy_is_clean() -> None:
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY="k3v9-Qz!a8Lw2#Tr5yHn0pXc7Ue4Bs6Jm1DfGo_iVaRt8Wq2Ze",
        DJANGO_ALLOWED_HOSTS="synsetlab.example.org",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/synsetlab",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_secret() -> None:
    result = run_manage(
        "check",
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_ALLOWED_HOSTS="synsetlab.example.org",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/synsetlab",
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr
