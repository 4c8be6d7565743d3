"""Web processes stay light: the training pages, API, services and the train handler module do
not import torch (only the training subprocess and the worker's GPU probe do)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT, child_env


def test_web_side_of_training_imports_no_torch() -> None:
    code = (
        "import django, sys; django.setup(); "
        "import curation.views.runs, curation.api.training, curation.services.training, "
        "curation.selectors.training, curation.charts, worker.training_handler, "
        "curation.management.commands.train; "
        "assert 'torch' not in sys.modules, 'torch imported'; print('light')"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=child_env(), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0 and "light" in proc.stdout, proc.stderr[-2000:]
