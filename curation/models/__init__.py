from .audit import AuditEvent
from .duplicates import DuplicateGroup, DuplicateKind, DuplicateMember, NotDuplicatePair
from .images import Candidate, Image, ImageOrigin
from .ingest import IngestItem
from .jobs import Job, JobChunk
from .registry import ModelArtifact
from .synsets import Synset, SynsetClosure, SynsetEdge

__all__ = [
    "AuditEvent",
    "Candidate",
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
    "Synset",
    "SynsetClosure",
    "SynsetEdge",
]
