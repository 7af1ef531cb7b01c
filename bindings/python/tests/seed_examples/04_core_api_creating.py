# Seed README, "Core API / Creating Shared Arrays", as written, inside a manager (the README
# leaves `manager` to the reader).
import numpy as np
from multiprocessing.managers import SharedMemoryManager
from shmanager import SharedArray

with SharedMemoryManager() as manager:  # setup (not part of the README example)
    # Allocate new shared array
    sa = SharedArray.allocate(manager, shape=(100, 200), dtype='float64')

    # Allocate matching existing array
    template = np.zeros((50, 50), dtype='int32')
    sa = SharedArray.allocate_like(manager, template)

    # Copy existing array into shared memory
    data = np.random.rand(1000, 1000)
    sa = SharedArray.copy(manager, data)

    # --- checks (not part of the README example) ---
    assert (sa.as_array() == data).all() and sa.owner
