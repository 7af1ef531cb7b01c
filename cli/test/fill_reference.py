"""The seeded test fill of `shmanager create` / `verify` and its checksum, in NumPy.

A reference for other bindings, and what cli/test/test_cli.sh checks the C tool against:

    python3 fill_reference.py fill SHAPE DTYPE SEED   # prints the fill's fnv1a64 checksum
    python3 fill_reference.py check NAME SHAPE DTYPE SEED
        # attaches /dev/shm/NAME with multiprocessing.shared_memory and exits 0 if its first
        # bytes are the fill (1 if not)
    python3 fill_reference.py make NAME SHAPE DTYPE SEED
        # creates a foreign segment NAME (no shmanager metadata) holding the fill

SHAPE is written as for the tool: "100,200", "" for 0-d.
"""
import sys

# --- the definitions cli/README.md shows (test_cli.sh checks they are the same) ---

import numpy as np

def splitmix64(seed, count):
    k = np.arange(1, count + 1, dtype=np.uint64)
    z = np.uint64(seed) + k * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))

_FLOAT_RULES = {2: (np.float16, 53, 2.0**-11), 4: (np.float32, 40, 2.0**-24), 8: (np.float64, 11, 2.0**-53)}

def _floats(r, size):
    ftype, shift, scale = _FLOAT_RULES[size]
    return (r >> np.uint64(shift)).astype(ftype) * ftype(scale)

def shmanager_fill(shape, dtype, seed):
    dt = np.dtype(dtype)
    n = int(np.prod(shape, dtype=np.int64))
    native = dt.newbyteorder("=")
    if dt.kind == "b":
        values = (splitmix64(seed, n) & np.uint64(1)).astype(np.bool_)
    elif dt.kind in "iuMm" and dt.itemsize in (1, 2, 4, 8):
        values = splitmix64(seed, n).astype(np.dtype(f"u{dt.itemsize}")).view(native)
    elif dt.kind == "f" and dt.itemsize in _FLOAT_RULES:
        values = _floats(splitmix64(seed, n), dt.itemsize)
    elif dt.kind == "c" and dt.itemsize in (8, 16):
        values = _floats(splitmix64(seed, 2 * n), dt.itemsize // 2).view(native)
    else:
        raise ValueError(f"dtype {dt.str} has no test fill")
    return values.astype(dt).reshape(shape)

def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in bytes(data):
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"

# --- the command line ---


def _shape(text):
    text = text.strip().strip("()")
    return tuple(int(d) for d in text.split(",") if d.strip())


def main(argv):
    from multiprocessing import resource_tracker, shared_memory

    cmd = argv[1]
    if cmd == "fill":
        shape, dtype, seed = _shape(argv[2]), argv[3], int(argv[4], 0)
        print(fnv1a64(shmanager_fill(shape, dtype, seed).tobytes()))
        return 0
    name, shape, dtype, seed = argv[2], _shape(argv[3]), argv[4], int(argv[5], 0)
    want = shmanager_fill(shape, dtype, seed)
    if cmd == "make":
        shm = shared_memory.SharedMemory(name=name, create=True, size=max(want.nbytes, 1))
        # Leave the segment to the caller: Python's resource tracker would remove it at exit.
        resource_tracker.unregister(shm._name, "shared_memory")
        shm.buf[: want.nbytes] = want.tobytes()
        shm.close()
        return 0
    if cmd == "check":
        shm = shared_memory.SharedMemory(name=name)
        resource_tracker.unregister(shm._name, "shared_memory")
        got = np.ndarray(shape, dtype=dtype, buffer=shm.buf)
        same = got.tobytes() == want.tobytes() and np.array_equal(got, want)
        del got
        shm.close()
        return 0 if same else 1
    raise SystemExit(f"unknown command {cmd!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
