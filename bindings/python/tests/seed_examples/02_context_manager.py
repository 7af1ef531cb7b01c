# Seed README, "With Automatic Cleanup (Context Manager)". Changed: shape (10000, 10000) ->
# (1000, 1000), to keep the test quick.
import os
import numpy as np
from multiprocessing.managers import SharedMemoryManager
from shmanager import SharedArray

with SharedMemoryManager() as manager:
    # Automatically closes/unlinks on exit
    with SharedArray.allocate(manager, shape=(1000, 1000), dtype='float64').managed() as shared:
        arr = shared.as_array()
        arr[:] = 42.0
        # Process array in parallel...
    # Memory automatically cleaned up here

# --- checks (not part of the README example) ---
    assert shared.closed and not os.path.exists("/dev/shm/" + shared.name)
assert arr.sum() == 42.0 * 1000 * 1000
