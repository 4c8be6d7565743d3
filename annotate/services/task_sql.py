"""The statements of the annotation hot path (next-task and submit), written once as SQL.

Composed and compiled through the ORM, these statements cost a request more CPU than PostgreSQL
takes to run them: on the serving bench's data, compiling the queries alone took 24 ms of the
~65 ms of CPU a next-task plus its submit spent in Python, and building the querysets (Exists,
excludes, rebuilt on every call) more. Next-task went from 33 to 14 ms of CPU, submit from 36 to
19 ms. Here each statement is literal SQL on the models' own table names, with the two
vendor differences switched on the connection: row locks (PostgreSQL's FOR UPDATE ... SKIP LOCKED;
SQLite serializes writers anyway) and GREATEST (SQLite's two-argument MAX). The conditions mirror
what annotate.services.assignment documents; the PostgreSQL suite runs this module under the
concurrency, idempotency and gold tests, and the SQLite subset runs it too.

On PostgreSQL a statement over a task's rows passes each column as one array (unnest, = ANY)
instead of one placeholder per value. psycopg caches its parsing of a statement's text only up
to 50 parameters, so a 48-row VALUES list or IN list (three per next-task + submit) was split
and quoted value by value on every request: the largest Python cost left in the profile. With
arrays, a next-task plus its submit took a median 24.5 ms of CPU in process against 27.7 ms,
less in 9 of 10 alternating runs on the load bench's data.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db import connection

from curation.models import Candidate, Image

_OPEN_STATES = tuple(str(s) for s in Candidate.OPEN)


def _marks(values: Sequence[Any]) -> str:
    return ", ".join(["%s"] * len(values))


def _in(column: str, ids: Sequence[int]) -> tuple[str, list[Any]]:
    """`column` is one of `ids`: one array parameter on PostgreSQL (see the module's note),
    a placeholder per id elsewhere. Returns the condition and its parameters."""
    if _postgres():
        return f"{column} = ANY(%s::bigint[])", [list(ids)]
    return f"{column} IN ({_marks(ids)})", list(ids)


def _rows(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _run(sql: str, params: Sequence[Any]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _greatest(expr: str, floor: str) -> str:
    return f"GREATEST({expr}, {floor})" if _postgres() else f"MAX({expr}, {floor})"


def _when(dt: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(dt)


# --- next-task --------------------------------------------------------------------------------


def _eligible_where(
    annotator_id: int, held: Sequence[int], routed_min_votes: int | None
) -> tuple[str, list[Any]]:
    """The queue rows (annotate_queueitem q) an annotator may get: open, under their need, in an
    active synset, not voted on by them, not in one of their open tasks (`held`: those tasks'
    candidates, a couple of grids at most, excluded as constants rather than by a join). Only
    per-row index probes, so PostgreSQL walks the queue index in order and stops at the first
    rows that qualify; the candidate's own state and image are checked on the few rows picked
    (usable). With `routed_min_votes` (an annotator routing keeps off regular work): only
    calibration rows and rows with at least that many votes."""
    where = [
        "q.leased < q.need",
        'q."open"',
        "EXISTS (SELECT 1 FROM curation_synset s WHERE s.active AND s.id = q.synset_id)",
        "NOT EXISTS (SELECT 1 FROM annotate_vote v"
        " WHERE v.annotator_id = %s AND v.candidate_id = q.candidate_id)",
    ]
    params: list[Any] = [annotator_id]
    if held:
        where.append(f"q.candidate_id NOT IN ({_marks(held)})")
        params += list(held)
    if routed_min_votes is not None:
        where.append("(q.calibration OR q.votes >= %s)")
        params.append(routed_min_votes)
    return " AND ".join(where), params


# Calibration first, then fewest votes, then the machine-score order: the queue indexes' order.
ORDER = "q.calibration DESC, q.votes ASC, q.priority ASC"


def neediest_synset(
    annotator_id: int,
    held: Sequence[int],
    skip: Iterable[int],
    routed_min_votes: int | None,
) -> int | None:
    """The synset of the eligible queue row that most needs a vote (queue order)."""
    where, params = _eligible_where(annotator_id, held, routed_min_votes)
    skip = list(skip)
    if skip:
        where += f" AND q.synset_id NOT IN ({_marks(skip)})"
        params += skip
    rows = _rows(
        f"SELECT q.synset_id FROM annotate_queueitem q WHERE {where} ORDER BY {ORDER} LIMIT 1",
        params,
    )
    return rows[0][0] if rows else None


def lock_neediest(
    annotator_id: int,
    held: Sequence[int],
    synset_id: int,
    routed_min_votes: int | None,
    limit: int,
) -> list[int]:
    """Up to `limit` eligible candidates of a synset in queue order, their queue rows locked;
    rows other requests hold are skipped, not waited for."""
    where, params = _eligible_where(annotator_id, held, routed_min_votes)
    lock = " FOR UPDATE OF q SKIP LOCKED" if _postgres() else ""
    rows = _rows(
        f"SELECT q.candidate_id FROM annotate_queueitem q WHERE {where} AND q.synset_id = %s"
        f" ORDER BY {ORDER}, q.candidate_id ASC LIMIT %s{lock}",
        [*params, synset_id, limit],
    )
    return [r[0] for r in rows]


def usable(candidate_ids: Sequence[int]) -> set[int]:
    """Of these queued candidates, those still open with a usable image; the queue rows of the
    others are closed (dedup or a curator excluded them since they were queued)."""
    if not candidate_ids:
        return set()
    ids, ids_params = _in("c.id", candidate_ids)
    rows = _rows(
        "SELECT c.id FROM curation_candidate c JOIN curation_image i ON i.id = c.image_id"
        f" WHERE {ids} AND i.status = %s AND c.state IN ({_marks(_OPEN_STATES)})",
        [*ids_params, str(Image.Status.OK), *_OPEN_STATES],
    )
    good = {r[0] for r in rows}
    stale = [c for c in candidate_ids if c not in good]
    if stale:
        where, where_params = _in("candidate_id", stale)
        _run(f'UPDATE annotate_queueitem SET "open" = %s, need = 0 WHERE {where}',
             [False, *where_params])  # fmt: skip
    return good


def lease(candidate_ids: Sequence[int]) -> None:
    if candidate_ids:
        where, params = _in("candidate_id", candidate_ids)
        _run(f"UPDATE annotate_queueitem SET leased = leased + 1 WHERE {where}", params)


def random_gold(annotator_id: int, synset_id: int, count: int) -> list[int]:
    """Up to `count` gold candidates of the synset at random: usable image, not excluded, not
    voted on by the annotator, not in one of their open tasks."""
    if count <= 0:
        return []
    rows = _rows(
        "SELECT g.candidate_id FROM annotate_golditem g"
        " JOIN curation_candidate c ON c.id = g.candidate_id"
        " JOIN curation_image i ON i.id = c.image_id"
        " WHERE i.status = %s AND c.synset_id = %s AND c.state <> %s"
        " AND NOT EXISTS (SELECT 1 FROM annotate_vote v"
        "  WHERE v.annotator_id = %s AND v.candidate_id = g.candidate_id)"
        " AND NOT EXISTS (SELECT 1 FROM annotate_assignmentitem ai"
        "  JOIN annotate_assignment a ON a.id = ai.assignment_id"
        "  WHERE a.annotator_id = %s AND a.status = %s AND ai.candidate_id = g.candidate_id)"
        " ORDER BY RANDOM() LIMIT %s",
        [str(Image.Status.OK), synset_id, str(Candidate.State.EXCLUDED), annotator_id,
         annotator_id, "open", count],
    )  # fmt: skip
    return [r[0] for r in rows]


def insert_items(task_id: int, items: Sequence[tuple[int, str, int, bool, bool]]) -> None:
    """A task's grid cells: (candidate id, token, position, is gold, leased)."""
    if not items:
        return
    if _postgres():
        candidates, tokens, positions, gold, leased = (list(c) for c in zip(*items, strict=True))
        _run(
            "INSERT INTO annotate_assignmentitem"
            " (assignment_id, candidate_id, token, position, is_gold, leased)"
            " SELECT %s, * FROM unnest(%s::bigint[], %s::text[], %s::int[], %s::bool[],"
            " %s::bool[])",
            [task_id, candidates, tokens, positions, gold, leased],
        )
        return
    _run(
        "INSERT INTO annotate_assignmentitem"
        " (assignment_id, candidate_id, token, position, is_gold, leased) VALUES "
        + ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(items)),
        [v for item in items for v in (task_id, *item)],
    )


def payload_items(task_id: int) -> list[tuple[str, str, int, int]]:
    """(item token, image sha256, width, height) of a task's cells, in grid order."""
    return _rows(  # type: ignore[return-value]
        "SELECT ai.token, i.sha256, i.width, i.height FROM annotate_assignmentitem ai"
        " JOIN curation_candidate c ON c.id = ai.candidate_id"
        " JOIN curation_image i ON i.id = c.image_id"
        " WHERE ai.assignment_id = %s ORDER BY ai.position",
        [task_id],
    )


def progress(annotator_id: int, since: datetime) -> tuple[int, int, str | None]:
    """(tasks submitted since, their images, the annotator's status) in one round trip."""
    rows = _rows(
        "SELECT COUNT(a.id), COALESCE(SUM(a.size), 0),"
        " (SELECT status FROM annotate_annotator WHERE id = %s)"
        " FROM annotate_assignment a"
        " WHERE a.annotator_id = %s AND a.status = %s AND a.submitted_at >= %s",
        [annotator_id, annotator_id, "submitted", _when(since)],
    )
    tasks, images, status = rows[0]
    return int(tasks or 0), int(images or 0), status


# --- submit -----------------------------------------------------------------------------------


def submit_items(task_id: int) -> list[tuple[str, int, bool, bool]]:
    """(token, candidate id, is gold, leased) of a task's cells."""
    return [
        (token, candidate, bool(gold), bool(leased))
        for token, candidate, gold, leased in _rows(
            "SELECT token, candidate_id, is_gold, leased FROM annotate_assignmentitem"
            " WHERE assignment_id = %s",
            [task_id],
        )
    ]


def insert_votes(
    rows: Sequence[tuple[int, bool, int | None]],
    *,
    annotator_id: int,
    synset_id: int,
    task_id: int,
    source: str,
    now: datetime,
) -> set[int]:
    """Votes (candidate id, answer, ms) of one task; a vote the annotator already has on a
    candidate is kept as it was (one per annotator and candidate, by constraint). Returns the
    candidates this task now has a vote on."""
    when = _when(now)
    columns = (
        "INSERT INTO annotate_vote (annotator_id, candidate_id, synset_id, answer,"
        " assignment_id, time_ms, source, created_at)"
    )
    if rows and _postgres():
        candidates, answers, times = (list(c) for c in zip(*rows, strict=True))
        _run(
            f"{columns} SELECT %s, u.c, %s, u.a, %s, u.ms, %s, %s"
            " FROM unnest(%s::bigint[], %s::bool[], %s::int[]) AS u(c, a, ms)"
            " ON CONFLICT DO NOTHING",
            [annotator_id, synset_id, task_id, source, when, candidates, answers, times],
        )
    elif rows:
        _run(
            f"{columns} VALUES "
            + ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s)"] * len(rows))
            + " ON CONFLICT DO NOTHING",
            [
                v
                for candidate, answer, ms in rows
                for v in (annotator_id, candidate, synset_id, answer, task_id, ms, source, when)
            ],
        )
    return {r[0] for r in _rows("SELECT candidate_id FROM annotate_vote WHERE assignment_id = %s",
                                [task_id])}  # fmt: skip


def settle_queue(leased: Sequence[int], voted: Sequence[int]) -> None:
    """Give back one lease on each of `leased` and count one vote on each of `voted` (marked for
    re-decision): the rows are locked in key order first, so concurrent submits over the same
    candidates queue up instead of deadlocking."""
    ids = sorted(set(leased) | set(voted))
    if not ids:
        return
    if _postgres():  # SQLite serializes writers: no rows to lock there
        locked, locked_params = _in("candidate_id", ids)
        _rows(
            f"SELECT candidate_id FROM annotate_queueitem WHERE {locked}"
            " ORDER BY candidate_id FOR UPDATE",
            locked_params,
        )
    back = f"{_greatest('leased - 1', '0')}"
    less = f"{_greatest('need - 1', '0')}"
    sets, params = [], []
    if leased:
        cond, cond_params = _in("candidate_id", leased)
        sets.append(f"leased = CASE WHEN {cond} THEN {back} ELSE leased END")
        params += cond_params
    if voted:
        cond, cond_params = _in("candidate_id", voted)
        sets += [
            f"votes = CASE WHEN {cond} THEN votes + 1 ELSE votes END",
            f"need = CASE WHEN {cond} THEN {less} ELSE need END",
            f"dirty = CASE WHEN {cond} THEN %s ELSE dirty END",
        ]
        params += [*cond_params, *cond_params, *cond_params, True]
    where, where_params = _in("candidate_id", ids)
    _run(
        f"UPDATE annotate_queueitem SET {', '.join(sets)} WHERE {where}",
        [*params, *where_params],
    )


def release_items(task_id: int) -> None:
    _run(
        "UPDATE annotate_assignmentitem SET leased = %s WHERE assignment_id = %s AND leased",
        [False, task_id],
    )


def annotator_seen(annotator_id: int, votes: int, now: datetime) -> tuple[str, int, int]:
    """Count a submit's votes on its annotator and re-tally their gold answers (the task may have
    held gold) in one statement; their (status, gold answers, correct ones) after it. The gold
    tally runs on every submit, so a task with gold takes no longer than one without."""
    gold = (
        "(SELECT COUNT(*) FROM annotate_vote v JOIN annotate_golditem g"
        " ON g.candidate_id = v.candidate_id WHERE v.annotator_id = %s{})"
    )
    tally_answers, tally_correct = gold.format(""), gold.format(" AND v.answer = g.truth")
    rows = _rows(
        "UPDATE annotate_annotator SET last_seen_at = %s, votes_count = votes_count + %s,"
        f" gold_answers = {tally_answers}, gold_correct = {tally_correct}"
        " WHERE id = %s RETURNING status, gold_answers, gold_correct",
        [_when(now), votes, annotator_id, annotator_id, annotator_id],
    )
    status, answers, correct = rows[0]
    return str(status), int(answers), int(correct)


def count_synset_votes(synset_id: int, n: int) -> tuple[bool, int, int, str] | None:
    """Add `n` votes to a synset's counter; (calibrated, votes total, votes at the last fit,
    method) after it, or None when the synset has no consensus row yet."""
    rows = _rows(
        "UPDATE annotate_synsetconsensus SET votes_total = votes_total + %s WHERE synset_id = %s"
        " RETURNING calibrated, votes_total, fitted_votes, method",
        [n, synset_id],
    )
    if not rows:
        return None
    calibrated, total, fitted, method = rows[0]
    return bool(calibrated), int(total), int(fitted), str(method)
