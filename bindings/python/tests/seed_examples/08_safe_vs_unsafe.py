# Seed README, "Safe vs Unsafe Methods", as written, inside a manager.
import numpy as np
from multiprocessing.managers import SharedMemoryManager
from shmanager import SharedArray

with SharedMemoryManager() as manager:  # setup (not part of the README example)
    # Safe (default): validates shape, dtype, buffer sizes
    sa_safe = SharedArray.allocate(manager, shape=(100,), dtype='float64')

    # Unsafe: skips validation for performance
    sa_unsafe = SharedArray.allocate_unsafe(manager, shape=(100,), dtype='float64')

    # Also available: copy_unsafe, allocate_like_unsafe, attach_unsafe

    # --- checks (not part of the README example) ---
    c = SharedArray.copy_unsafe(manager, np.arange(10.0))
    like = SharedArray.allocate_like_unsafe(manager, c.as_array())
    client = SharedArray.attach_unsafe(c.name, (10,), 'float64')
    assert client.as_array().sum() == 45.0 and like.shape == (10,)
    assert sa_safe.shape == sa_unsafe.shape == (100,)
