"""The Redis server the tests use: 127.0.0.1:6379 unless ``ASKDOCS_TEST_REDIS_PORT`` names another
(several checkouts testing on one machine each start their own and do not take each other's tasks)."""

from __future__ import annotations

import os

import redis

PORT = int(os.environ.get("ASKDOCS_TEST_REDIS_PORT", "6379"))


def url(db: int) -> str:
    return f"redis://127.0.0.1:{PORT}/{db}"


def client(db: int) -> redis.Redis:
    return redis.Redis(port=PORT, db=db)
