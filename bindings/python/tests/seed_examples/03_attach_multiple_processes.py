# Seed README, "Attach from Multiple Processes", as written.
import os
import numpy as np
from multiprocessing.managers import SharedMemoryManager
from shmanager import SharedArray

# Process 1: Create and populate
with SharedMemoryManager() as manager:
    owner = SharedArray.allocate(manager, shape=(1000, 1000), dtype='float64')
    arr = owner.as_array()
    arr[:] = np.random.rand(1000, 1000)
    
    name = owner.name  # Share this name with other processes
    
    # Process 2: Attach by name
    client = SharedArray.attach(name=name, shape=(1000, 1000), dtype='float64')
    client_arr = client.as_array()
    # Both processes see the same data!
    
    client.close()  # Non-owner: closes handle but doesn't unlink
    owner.close()   # Owner: closes and unlinks memory

# --- checks (not part of the README example) ---
    assert (client_arr == arr).all() and not os.path.exists("/dev/shm/" + name)
