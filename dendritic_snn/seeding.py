"""Named random streams: one generator per (seed, purpose), independent of call order."""

from __future__ import annotations

import zlib

import numpy as np


def seeded_rng(seed: int, *keys: str) -> np.random.Generator:
    """A generator determined by ``seed`` and the names in ``keys`` alone.

    Streams with different keys are statistically independent (NumPy ``SeedSequence``), so
    adding a new random draw somewhere never changes the draws made elsewhere.
    """
    entropy = [int(seed) & 0xFFFFFFFF] + [zlib.crc32(key.encode()) for key in keys]
    return np.random.default_rng(np.random.SeedSequence(entropy))
