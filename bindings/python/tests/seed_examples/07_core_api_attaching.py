# Seed README, "Core API / Attaching to Existing Memory", as written. The README's name
# "psm_12345" is what Python's SharedMemory calls its blocks: the setup creates one.
import numpy as np
from multiprocessing import shared_memory
from shmanager import SharedArray

block = shared_memory.SharedMemory(name="psm_12345", create=True, size=100 * 100 * 8)  # setup
try:
    np.ndarray((100, 100), dtype='float64', buffer=block.buf)[:] = 1.5  # setup

    # Attach to shared memory by name (e.g., from another process)
    client = SharedArray.attach(
        name="psm_12345",
        shape=(100, 100),
        dtype='float64'
    )
    # owner=False by default (won't unlink on close)

    # --- checks (not part of the README example) ---
    assert client.owner is False and client.as_array().sum() == 1.5 * 100 * 100
    client.close()
finally:
    block.close()
    block.unlink()
