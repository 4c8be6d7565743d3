from .annotators import Annotator, Study, StudyParticipant
from .gold import GoldItem
from .tasks import Assignment, AssignmentItem, QueueItem
from .votes import Decision, QualitySnapshot, SynsetConsensus, Vote

__all__ = [
    "Annotator",
    "Assignment",
    "AssignmentItem",
    "Decision",
    "GoldItem",
    "QualitySnapshot",
    "QueueItem",
    "Study",
    "StudyParticipant",
    "SynsetConsensus",
    "Vote",
]
