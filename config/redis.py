"""One way to reach Redis from Django code (health checks, heartbeats, queue depths)."""

from __future__ import annotations

from functools import lru_cache

import redis
from django.conf import settings


def redis_url() -> str:
    # Celery understands redis+socket://; redis-py wants unix://.
    return settings.REDIS_URL.replace("redis+socket://", "unix://")


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def redis_client() -> redis.Redis:
    return _client(redis_url())


def broker_client() -> redis.Redis:
    return _client(settings.CELERY_BROKER_URL.replace("redis+socket://", "unix://"))
