"""Re-deciding candidates off the request path (ANNOTATE_CONSENSUS_ASYNC).

A submit marks the queue rows its counted votes touched (`QueueItem.dirty`, set in the statement
that counts the votes) and asks for a drain; a Celery task re-decides every marked row in batches,
at the worker's (lower) priority, many submits per transaction. The mark lives in the database,
so a lost request, Redis being down or a killed worker loses nothing: the next drain, or the
periodic one celery beat runs, finds the rows still marked. Until then an item's `need` has
already been counted down by its new votes, so leasing never overshoots.
"""

from __future__ import annotations

import logging
import time

from annotate.models import QueueItem
from annotate.services.consensus.update import consensus_update

logger = logging.getLogger(__name__)

# Set while a drain is queued; the drain deletes it as it starts, so a submit that marks rows
# after that asks for the next one. Expires in case the queued task is lost.
DRAIN_KEY = "synsetlab:consensus-drain"
DRAIN_KEY_SECONDS = 10
# Rows re-decided per transaction by the drain. The rows it drains are the ones annotators are
# voting on right now, and their submits wait for its row locks: it skips rows a submit holds
# (never waiting while holding others) and keeps its transactions short.
DRAIN_TRANSACTION_ROWS = 100


def consensus_drain(*, batch: int = 2000, seconds: float = 20.0) -> int:
    """Re-decide marked queue rows until none is left, or for about
    `seconds` (then ask for another drain, so one task never holds a worker for long). Returns
    the rows re-decided (less any a submit marked again meanwhile)."""
    started, done, previous = time.monotonic(), 0, None
    while True:
        ids = list(
            QueueItem.objects.filter(dirty=True)
            .order_by("candidate_id")
            .values_list("candidate_id", flat=True)[:batch]
        )
        if not ids:
            return done
        if ids == previous:
            # Only rows that submits held through the last pass: they commit within
            # milliseconds, so look again shortly rather than wait on their locks.
            time.sleep(0.05)
        previous = ids
        consensus_update(candidate_ids=ids, batch=DRAIN_TRANSACTION_ROWS, skip_locked=True)
        done += len(ids) - QueueItem.objects.filter(candidate_id__in=ids, dirty=True).count()
        if time.monotonic() - started > seconds:
            consensus_drain_request()
            return done


def consensus_drain_request() -> bool:
    """Ask a worker to drain unless a drain is already queued. False when it cannot be asked
    (Redis or the broker down): the caller re-decides its own candidates then."""
    from config.redis import redis_client
    from worker.tasks import consensus_drain_task

    try:
        client = redis_client()
        if not client.set(DRAIN_KEY, "1", nx=True, ex=DRAIN_KEY_SECONDS):
            return True  # a drain is queued and has not started: it will see this caller's rows
    except Exception:
        logger.warning("could not ask for a consensus drain; re-deciding inline", exc_info=True)
        return False
    try:
        consensus_drain_task.apply_async()
        return True
    except Exception:
        # Nothing was queued: free the key, or every submit until it expires would count on a
        # drain that never comes (and the last ones' rows would wait for beat).
        try:
            client.delete(DRAIN_KEY)
        except Exception:
            logger.warning("could not clear the drain key", exc_info=True)
        logger.warning("could not queue a consensus drain; re-deciding inline", exc_info=True)
        return False
