"""Gives each request an id (honouring X-Request-ID from a proxy) for logs and responses, and a
Server-Timing header: the request's wall time in the app, the CPU time of its thread and the time
spent waiting for the database, so a slow request says where its time went."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponse

from config.logging import request_id_var

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        timer = _DbTimer()
        started, cpu_started = time.perf_counter(), time.thread_time()
        try:
            with connection.execute_wrapper(timer):
                response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        app = (time.perf_counter() - started) * 1000
        cpu = (time.thread_time() - cpu_started) * 1000
        response["X-Request-ID"] = request_id
        response["Server-Timing"] = (
            f'app;dur={app:.1f}, cpu;dur={cpu:.1f}, db;dur={timer.ms:.1f};desc="{timer.n} queries"'
        )
        return response


class _DbTimer:
    """Time spent in database calls (waiting for PostgreSQL: its work, locks, the network)."""

    def __init__(self) -> None:
        self.ms = 0.0
        self.n = 0

    def __call__(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.ms += (time.perf_counter() - started) * 1000
            self.n += 1
