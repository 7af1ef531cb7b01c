# Seed README, "Core API / Accessing Arrays", as written, with `sa` from the Creating example.
import numpy as np
from multiprocessing.managers import SharedMemoryManager
from shmanager import SharedArray

with SharedMemoryManager() as manager:  # setup (not part of the README example)
    data = np.random.rand(1000, 1000)
    sa = SharedArray.copy(manager, data)

    # Get numpy array view (no copying!)
    arr = sa.as_array()
    arr[0, 0] = 42.0  # Modifications visible to all processes

    # Access metadata
    print(sa.name)   # Shared memory block name
    print(sa.shape)  # Array shape
    print(sa.dtype)  # Array dtype
    print(sa.owner)  # Whether this instance owns the memory

    # --- checks (not part of the README example) ---
    assert sa.as_array()[0, 0] == 42.0 and sa.shape == (1000, 1000) and sa.owner is True
