# Seed README, "Complete Example: Image Processing Pipeline", as written. Changed:
# (10000, 10000) -> (1000, 1000). tqdm is stubbed by the test when it is not installed.
import numpy as np
from multiprocessing import Pool
from multiprocessing.managers import SharedMemoryManager
from shmanager import SharedArray
from tqdm import tqdm

def process_tile(args):
    """Process one tile of a large image."""
    shared_img, y_start, y_end = args
    img = shared_img.as_array()
    tile = img[y_start:y_end, :]
    # Apply expensive operation
    return tile.mean(), tile.std()

def parallel_image_analysis(image, n_tiles=10):
    """Analyze large image in parallel without copying."""
    tile_height = image.shape[0] // n_tiles
    
    with SharedMemoryManager() as manager:
        # Share image once
        shared = SharedArray.copy(manager, image)
        
        # Create tile boundaries
        tiles = [(shared, i*tile_height, (i+1)*tile_height) 
                 for i in range(n_tiles)]
        
        # Process in parallel
        with Pool() as pool:
            results = list(tqdm(pool.imap(process_tile, tiles), 
                              total=n_tiles))
        
        return results

# Usage
large_image = np.random.rand(1000, 1000)
stats = parallel_image_analysis(large_image)
print(f"Processed {len(stats)} tiles")

# --- checks (not part of the README example) ---
assert len(stats) == 10
assert np.allclose([m for m, _ in stats], large_image.reshape(10, 100, 1000).mean(axis=(1, 2)))
