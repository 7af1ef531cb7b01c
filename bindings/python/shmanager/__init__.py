"""shmanager: NumPy arrays in POSIX shared memory, shared between processes without copying.

    from multiprocessing.managers import SharedMemoryManager
    from shmanager import SharedArray

    with SharedMemoryManager() as manager:
        shared = SharedArray.copy(manager, data)      # one copy into shared memory
        pool.map(work, [(shared, i) for i in ...])    # each task pickles a ~90-byte handle

`manager` is Python's SharedMemoryManager (segments are unlinked when it shuts down), a
shmanager.Manager (the C core's manager, whose reaper also cleans up after a crash), or None.

A NumPy view from as_array() keeps its memory mapped: closing the SharedArray (or shutting its
manager down) unlinks the segment, but never unmaps memory a live view still points to.
"""
from ._core import (
    MAX_NDIM,
    Manager,
    SharedArray,
    cache_info,
    clear_cache,
    core_version,
    inspect,
    unlink,
)

__version__ = core_version

__all__ = [
    "SharedArray",
    "Manager",
    "clear_cache",
    "cache_info",
    "unlink",
    "inspect",
    "MAX_NDIM",
    "__version__",
]
