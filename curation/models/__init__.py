from .audit import AuditEvent
from .duplicates import (
    DuplicateEdge,
    DuplicateGroup,
    DuplicateKind,
    DuplicateMember,
    NotDuplicatePair,
)
from .exports import DatasetVersion, TrainingRun
from .images import Candidate, Image, ImageOrigin
from .ingest import IngestItem
from .jobs import Job, JobChunk
from .predictions import Prediction
from .registry import ModelArtifact
from .synsets import Synset, SynsetClosure, SynsetEdge

__all__ = [
    "AuditEvent",
    "Candidate",
    "DatasetVersion",
    "DuplicateEdge",
    "DuplicateGroup",
    "DuplicateKind",
    "DuplicateMember",
    "Image",
    "ImageOrigin",
    "IngestItem",
    "Job",
    "JobChunk",
    "ModelArtifact",
    "NotDuplicatePair",
    "Prediction",
    "Synset",
    "SynsetClosure",
    "SynsetEdge",
    "TrainingRun",
]
