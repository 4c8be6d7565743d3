"""Tests: the machine's real PostgreSQL and Redis unless DATABASE_URL / REDIS_URL say otherwise."""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/synsetlab")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")

from .base import *  # noqa: F403
from .base import BASE_DIR, env

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
}
_test_var = env.str("SYNSETLAB_TEST_VAR", default=str(BASE_DIR / "var" / "test"))
MEDIA_ROOT = f"{_test_var}/media"
DATA_ROOT = __import__("pathlib").Path(f"{_test_var}/data")
STORAGES["default"] = {  # noqa: F405
    "BACKEND": "django.core.files.storage.FileSystemStorage",
    "OPTIONS": {"location": MEDIA_ROOT, "base_url": "/media/"},
}
PIPELINE_FOLLOWERS = env.bool("PIPELINE_FOLLOWERS", default=False)  # tests chain explicitly
# Decisions right after each submit, inside the request (tests/annotate/test_drain.py covers the
# asynchronous drain with a real worker).
ANNOTATE_CONSENSUS_ASYNC = env.bool("ANNOTATE_CONSENSUS_ASYNC", default=False)
AXES_ENABLED = env.bool("AXES_ENABLED", default=False)
CACHES["default"]["KEY_PREFIX"] = "synsetlab-test"  # noqa: F405
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
