"""glibc ``malloc`` settings for the worker process, passed in its environment.

glibc serves an allocation of 128 KiB or more with its own ``mmap`` (given back to the system
when freed), but raises that threshold, up to 32 MiB, each time such a block is freed. In the
worker, the blocks freed are RocksDB's memtable arenas (512 KiB each), the fetched batches of
aiokafka and the tables of the engines' large dicts as they grow; after the first frees they
come from the main heap instead, where a freed block stays resident until everything above it
is free too. Fixing the threshold at 128 KiB (which also stops the raising) and trimming the
heap's top past 128 KiB kept the worker's RSS ~65–90 MiB lower over 4 M simulated events at
the same CPU time per event (docs/performance.md, "Memory").

glibc reads these variables when the process starts, so they are set where the worker is
launched: the container image (``Dockerfile``, so compose and Kubernetes have them) and the
demo (:func:`worker_environment`). A worker started any other way (``ccpulse worker`` in a
shell, a systemd unit) sets them itself with ``mallopt(3)`` as it starts
(:func:`set_in_process`): the same settings for everything allocated from then on. A value the
environment already has wins.
"""

from __future__ import annotations

import ctypes
from collections.abc import Mapping

#: ``mallopt(3)``'s parameter numbers (glibc's malloc.h) for the variables of MALLOC_ENV.
_MALLOPT_PARAMETER = {"MALLOC_TRIM_THRESHOLD_": -1, "MALLOC_MMAP_THRESHOLD_": -3}

#: glibc's tunables (``mallopt(3)``): bytes, as the environment spells them.
MALLOC_ENV: dict[str, str] = {
    "MALLOC_MMAP_THRESHOLD_": "131072",
    "MALLOC_TRIM_THRESHOLD_": "131072",
}


def worker_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` with :data:`MALLOC_ENV` for what it does not set itself."""
    return {**MALLOC_ENV, **environ}


def set_in_process(environ: Mapping[str, str]) -> dict[str, int]:
    """Set :data:`MALLOC_ENV`'s settings that ``environ`` does not set, with ``mallopt(3)``.

    Returns the settings made, by variable name, in bytes: empty where the C library has no
    ``mallopt`` or refuses it (not glibc), or where the environment set them all (glibc read
    them at the start).
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return {}
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    made = {}
    for name, value in MALLOC_ENV.items():
        if name not in environ and mallopt(_MALLOPT_PARAMETER[name], int(value)) == 1:
            made[name] = int(value)
    return made
