from __future__ import annotations

from pathlib import Path

import pytest

from tests.training.export_fixture import make_export


@pytest.fixture(scope="session")
def sample_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 classes x 12 sample images (8 train, 4 val), ImageFolder + WebDataset, built once."""
    return make_export(tmp_path_factory.mktemp("exports") / "sample")
