# Seed README, "Performance Comparison", as written. Changed: (10000, 10000) -> (1000, 1000).
# The README leaves process_chunk/process_chunk_shared to the reader and omits the import of
# SharedMemoryManager: the setup supplies them. The example only defines the two functions;
# the checks call them.
from multiprocessing.managers import SharedMemoryManager  # setup (missing from the README)

def process_chunk(args):  # setup: one tenth-of-a-row-block's sum, per task
    data, i = args
    return data[i * 10:(i + 1) * 10].sum()

def process_chunk_shared(args):  # setup
    shared, i = args
    return shared.as_array()[i * 10:(i + 1) * 10].sum()

import time
import numpy as np
from multiprocessing import Pool
from shmanager import SharedArray

data = np.random.rand(1000, 1000)  # ~800MB array

# Traditional approach: pickle copies data to each worker
def traditional():
    with Pool() as pool:
        results = pool.map(process_chunk, [(data, i) for i in range(100)])
    # Total memory: 800MB × num_workers 😱

# With shmanager: zero copying
def with_shmanager():
    with SharedMemoryManager() as manager:
        shared = SharedArray.copy(manager, data)
        with Pool() as pool:
            results = pool.map(process_chunk_shared, [(shared, i) for i in range(100)])
    # Total memory: 800MB regardless of workers 🎉

# --- checks (not part of the README example) ---
t0 = time.perf_counter(); traditional(); t1 = time.perf_counter(); with_shmanager(); t2 = time.perf_counter()
print(f"traditional {t1 - t0:.3f}s, with shmanager {t2 - t1:.3f}s")
