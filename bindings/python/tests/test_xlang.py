"""Cross-language checks: a C process and Python sharing arrays both ways.

The C side is tests/xlang.c (built by `make python-test` as build/python/tests/xlang, passed in
$SHMA_XLANG). Both sides compute the same seeded pattern and the same position-weighted byte
checksum (see xlang.c), so each verifies what the other wrote.
"""
import os
import subprocess
from multiprocessing import shared_memory

import numpy as np
import pytest

from shmanager import SharedArray

from conftest import exists, popen, run

XLANG = os.environ.get("SHMA_XLANG", "")
if not os.access(XLANG, os.X_OK):
    if os.environ.get("SHMA_REQUIRE_XLANG"):
        raise RuntimeError(f"SHMA_XLANG={XLANG!r} is not an executable: build it with make python-test")
    pytest.skip("the C helper is not built (run through `make python-test`)", allow_module_level=True)


def pattern(shape, dtype, seed):
    """The same values xlang.c writes, as a NumPy array of dtype."""
    dt = np.dtype(dtype)
    n = int(np.prod(shape, dtype=np.int64))
    v = (np.arange(n, dtype=np.uint64) * np.uint64(2654435761) + np.uint64(seed)) % np.uint64(1000003)
    if dt.kind == "f":
        values = v.astype(np.float64) / 8.0
    elif dt.kind == "i":
        values = v.astype(np.int64) - 500000
    else:
        values = v % np.uint64(256)
    return values.astype(dt).reshape(shape)


def checksum(arr):
    b = np.frombuffer(np.ascontiguousarray(arr).tobytes(), dtype=np.uint8).astype(np.uint64)
    with np.errstate(over="ignore"):
        return int((b * np.arange(1, b.size + 1, dtype=np.uint64)).sum(dtype=np.uint64))


def shape_arg(shape):
    return ",".join(str(d) for d in shape)


CASES = [
    ((300, 200), "<f8", 1),
    ((300, 200), ">f8", 2),
    ((17, 5, 3), "<i4", 3),
    ((1000,), ">i8", 4),
    ((64, 64), "<f4", 5),
    ((7,), "|u1", 6),
    ((), "<f8", 7),
    ((0, 4), "<f8", 8),
]


@pytest.mark.parametrize("shape, dtype, seed", CASES)
def test_c_creates_python_attaches(shape, dtype, seed):
    proc = popen([XLANG, "create", dtype, shape_arg(shape), str(seed)],
                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        handle, c_sum = proc.stdout.readline().split()
        name = handle.rsplit(";", 1)[1]
        by_name = SharedArray.attach(name)  # shape and dtype from the C side's trailer
        explicit = SharedArray.attach(name, shape, dtype)
        assert by_name.shape == shape and by_name.dtype == np.dtype(dtype)
        arr = by_name.as_array()
        assert checksum(arr) == int(c_sum)
        np.testing.assert_array_equal(arr, pattern(shape, dtype, seed))
        np.testing.assert_array_equal(explicit.as_array(), arr)
        assert by_name.handle == handle
        explicit.close()
    finally:
        proc.stdin.close()  # tells the C process to close (and unlink) its array
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
    assert not exists(name)
    assert arr.sum() == pattern(shape, dtype, seed).sum(), "our mapping outlives the C side's unlink"
    by_name.close()


@pytest.mark.parametrize("shape, dtype, seed", CASES)
@pytest.mark.parametrize("how", ["verify-handle", "verify-name"])
def test_python_creates_c_attaches(shape, dtype, seed, how, any_manager, cleanup):
    sa = cleanup(SharedArray.copy(any_manager, pattern(shape, dtype, seed)))
    arg = sa.handle if how == "verify-handle" else sa.name
    r = run([XLANG, how, arg, str(seed)])
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) == checksum(sa.as_array())
    assert exists(sa.name), "the C client's close does not unlink"


def test_c_detects_a_wrong_value(cleanup):
    data = pattern((10, 10), "<f8", 9)
    data[3, 3] += 1
    sa = cleanup(SharedArray.copy(None, data))
    r = run([XLANG, "verify-handle", sa.handle, "9"])
    assert r.returncode == 1 and "element 33 differs" in r.stderr


@pytest.mark.parametrize("shape, dtype", [((250, 40), "<f8"), ((33,), ">i4")])
def test_plain_shared_memory_with_c(shape, dtype):
    """A block from Python's SharedMemory (no shmanager metadata): C fills it, Python checks;
    Python fills it, C checks."""
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    shm = shared_memory.SharedMemory(create=True, size=nbytes)
    try:
        view = np.ndarray(shape, dtype, buffer=shm.buf)
        r = run([XLANG, "fill-raw", shm.name, dtype, shape_arg(shape), "11"])
        assert r.returncode == 0, r.stderr
        np.testing.assert_array_equal(view, pattern(shape, dtype, 11))
        view[...] = pattern(shape, dtype, 12)
        r = run([XLANG, "verify-raw", shm.name, dtype, shape_arg(shape), "12"])
        assert r.returncode == 0, r.stderr
        assert int(r.stdout) == checksum(view)
        r = run([XLANG, "verify-name", shm.name, "12"])
        assert r.returncode == 2 and "SHMA_E_NOMETA" in r.stderr
        del view
    finally:
        shm.close()
        shm.unlink()


def test_c_array_beyond_numpy_ndim():
    import shmanager

    if shmanager.MAX_NDIM >= 64:
        pytest.skip("this NumPy handles every ndim the core does")
    ndim = shmanager.MAX_NDIM + 1
    proc = popen([XLANG, "create", "<f8", ",".join(["1"] * ndim), "1"],
                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        name = proc.stdout.readline().split()[0].rsplit(";", 1)[1]
        with pytest.raises(ValueError, match=f"{ndim}-dimensional array: this NumPy handles at most"):
            SharedArray.attach(name)
    finally:
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0
