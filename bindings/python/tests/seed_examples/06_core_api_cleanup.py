# Seed README, "Core API / Cleanup", as written. The two halves are alternatives: each gets its
# own `sa` here (closing the first makes the second's `sa` unusable).
import os
import numpy as np
from multiprocessing.managers import SharedMemoryManager
from shmanager import SharedArray

with SharedMemoryManager() as manager:  # setup (not part of the README example)
    sa = SharedArray.allocate(manager, shape=(100, 100), dtype='float64')
    first = sa.name

    # Manual cleanup
    sa.close()  # Closes handle; unlinks if owner=True

    sa = SharedArray.allocate(manager, shape=(100, 100), dtype='float64')  # setup

    # Automatic cleanup with context manager
    with sa.managed() as managed_sa:
        arr = managed_sa.as_array()
        # Use array...
    # Automatically closed here

    # --- checks (not part of the README example) ---
    assert not os.path.exists("/dev/shm/" + first) and not os.path.exists("/dev/shm/" + sa.name)
    assert sa.closed
