"""Consensus: ImageNet's dynamic consensus per synset, worker-weighted, with gold.

- evaluate.py: the policy of a synset and the pure, vectorised decision rule,
- update.py: re-deciding candidates from their counted votes (incremental, after each submit),
- fit.py: fitting a synset's latent-class model and thresholds; agreement and snapshots,
- jobs.py: the `consensus` Job kind and the refit trigger,
- drain.py: re-deciding after submits off the request path (ANNOTATE_CONSENSUS_ASYNC).
"""

from annotate.services.consensus.drain import consensus_drain, consensus_drain_request
from annotate.services.consensus.evaluate import Policy, policy_for
from annotate.services.consensus.fit import (
    calibration_complete,
    consensus_synset,
    synset_fit,
    synset_quality_refresh,
)
from annotate.services.consensus.jobs import (
    ConsensusHandler,
    consensus_job,
    consensus_note_votes,
    consensus_request_refit,
)
from annotate.services.consensus.update import consensus_update

__all__ = [
    "ConsensusHandler",
    "Policy",
    "calibration_complete",
    "consensus_drain",
    "consensus_drain_request",
    "consensus_job",
    "consensus_note_votes",
    "consensus_request_refit",
    "consensus_synset",
    "consensus_update",
    "policy_for",
    "synset_fit",
    "synset_quality_refresh",
]
