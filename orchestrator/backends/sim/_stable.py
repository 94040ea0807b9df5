"""Process-independent hashing and seeding (Python's `hash()` is salted per process)."""

from __future__ import annotations

import hashlib
import random


def stable_hash(*parts: object) -> int:
    """A 64-bit hash of the parts' `repr`s, identical in every process."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def seeded_rng(*parts: object) -> random.Random:
    return random.Random(stable_hash(*parts))
