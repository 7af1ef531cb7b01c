# Seed README, "Quick Start / Basic Example: Parallel Row Summation", as written.
import numpy as np
from multiprocessing import Pool
from multiprocessing.managers import SharedMemoryManager
from shmanager import SharedArray

def sum_row(args):
    """Sum a single row - runs in parallel process."""
    shared_array, row_idx = args
    arr = shared_array.as_array()
    return arr[row_idx].sum()

# Create large array
data = np.random.rand(1000, 1000)

# Share it across processes
with SharedMemoryManager() as manager:
    shared = SharedArray.copy(manager, data)
    
    with Pool() as pool:
        # Each worker accesses the SAME memory - no copying!
        results = pool.map(sum_row, [(shared, i) for i in range(1000)])
    
    print(f"Total sum: {sum(results)}")

# --- checks (not part of the README example) ---
assert np.allclose(results, data.sum(axis=1))
assert abs(sum(results) - data.sum()) < 1e-6 * data.size
