"""Errors the CLI turns into specific exit codes and one-line messages."""

from __future__ import annotations


class TrainingError(Exception):
    """Base: `python -m training` prints `training: error: <message>` and exits with `exit_code`."""

    exit_code = 1


class ExportMissing(TrainingError):
    """The export directory (or a file it must hold) does not exist."""

    exit_code = 3


class ExportInvalid(TrainingError):
    """synsets.txt / dataset.json / the image tree do not follow training/EXPORT_FORMAT.md."""

    exit_code = 4


class EmptySplit(TrainingError):
    """A split the run needs (train or val) holds no images."""

    exit_code = 5


class CheckpointInvalid(TrainingError):
    """--resume names a checkpoint that is missing or does not fit this run."""

    exit_code = 6


EXIT_CODES = {
    cls.__name__: cls.exit_code
    for cls in (TrainingError, ExportMissing, ExportInvalid, EmptySplit, CheckpointInvalid)
}
