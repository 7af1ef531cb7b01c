"""Cross-checks with the `shmanager` command-line tool (cli/): its seeded fill, made by C in
another process, read from Python; and arrays made by Python checked by the tool.

The fill and checksum are the ones `shmanager create --help` documents (splitmix64, FNV-1a 64),
recomputed here with NumPy. $SHMA_CLI points at the tool (`make python-test` passes
build/release/shmanager); without it these tests are skipped.
"""
import json
import os
from multiprocessing import shared_memory

import numpy as np
import pytest

from shmanager import SharedArray

from conftest import TEST_PREFIX, exists, run

CLI = os.environ.get("SHMA_CLI", "")
pytestmark = pytest.mark.skipif(not os.access(CLI, os.X_OK), reason="the shmanager CLI is not built")


def splitmix64(seed, count):
    k = np.arange(count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + (k + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def unit_floats(r, itemsize):
    """The tool's float rule: the top 11, 24 or 53 bits of r as a fraction in [0, 1)."""
    shift, scale = {2: (53, 2.0**-11), 4: (40, 2.0**-24), 8: (11, 2.0**-53)}[itemsize]
    return (r >> np.uint64(shift)).astype(np.float64) * scale


def cli_fill(shape, dtype, seed):
    """The tool's seeded test fill, as a NumPy array."""
    dt = np.dtype(dtype)
    n = int(np.prod(shape, dtype=np.int64))
    native = dt.newbyteorder("=")
    if dt.kind == "c":
        r = splitmix64(seed, 2 * n)  # real part from r(2i), imaginary from r(2i+1)
        half = dt.itemsize // 2
        values = (unit_floats(r[0::2], half) + 1j * unit_floats(r[1::2], half)).astype(native)
    elif dt.kind == "b":
        values = (splitmix64(seed, n) & np.uint64(1)).astype(native)
    elif dt.kind == "f":
        values = unit_floats(splitmix64(seed, n), dt.itemsize).astype(native)
    else:  # int, uint, datetime, timedelta: the low 8 x itemsize bits, two's complement
        values = splitmix64(seed, n).astype(np.dtype(f"u{dt.itemsize}")).view(native)
    return values.astype(dt).reshape(shape)


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for byte in bytes(data):
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def cli(*args):
    r = run([CLI, *args, "--json"])
    return r.returncode, (json.loads(r.stdout) if r.stdout.strip() else None), r.stderr


CASES = [
    ((30, 20), "float64", 42),
    ((7, 3, 4), ">f4", 1),
    ((50,), "<f2", 2),
    ((9, 9), "int16", 3),
    ((12,), ">u8", 4),
    ((5, 5), "bool", 5),
    ((6, 2), "complex128", 6),
    ((4,), ">c8", 7),
    ((10,), ">M8[ms]", 8),
    ((), "int32", 9),
    ((0, 3), "float64", 10),
]


@pytest.mark.parametrize("shape, dtype, seed", CASES)
def test_cli_creates_python_reads(shape, dtype, seed, cleanup):
    name = cleanup.name(f"{TEST_PREFIX}cli_{os.getpid()}_{seed}")
    rc, made, err = cli("create", name, "--shape", ",".join(map(str, shape)), "--dtype", dtype, "--seed", str(seed))
    assert rc == 0, err
    sa = cleanup(SharedArray.attach(name))  # shape and dtype from the trailer C wrote
    assert sa.shape == shape and sa.dtype == np.dtype(dtype)
    assert sa.handle == made["handle"]
    arr = sa.as_array()
    assert fnv1a64(arr.tobytes()) == made["checksum"]
    assert arr.tobytes() == cli_fill(shape, dtype, seed).tobytes()


@pytest.mark.parametrize("shape, dtype, seed", CASES)
def test_python_creates_cli_verifies(shape, dtype, seed, any_manager, cleanup):
    sa = cleanup(SharedArray.copy(any_manager, cli_fill(shape, dtype, seed)))
    rc, out, err = cli("verify", sa.name, "--seed", str(seed))
    assert rc == 0 and out["ok"], err
    assert out["checksum"] == fnv1a64(sa.as_array().tobytes())
    rc, out, _ = cli("verify", sa.name, "--seed", str(seed + 1))
    assert (rc == 1 and not out["ok"]) or sa.nbytes == 0


def test_cli_verifies_a_plain_shared_memory_block():
    shape, dtype, seed = (25, 8), ">i8", 11
    shm = shared_memory.SharedMemory(create=True, size=25 * 8 * 8)
    try:
        view = np.ndarray(shape, dtype, buffer=shm.buf)
        view[...] = cli_fill(shape, dtype, seed)
        rc, out, err = cli("verify", shm.name, "--seed", str(seed), "--shape", "25,8", "--dtype", dtype)
        assert rc == 0 and out["ok"], err
        del view
    finally:
        shm.close()
        shm.unlink()


def test_cli_sees_python_arrays_and_removes_them(cleanup):
    sa = cleanup(SharedArray.allocate(None, (3, 4), ">i2"))
    rc, info, err = cli("inspect", sa.name)
    assert rc == 0, err
    assert info["dtype"] == ">i2" and info["shape"] == [3, 4] and info["creator_pid"] == os.getpid()
    view = sa.as_array()
    rc = run([CLI, "rm", sa.name]).returncode
    assert rc == 0 and not exists(sa.name)
    view[0, 0] = 1  # our mapping is unaffected by the unlink
    sa.close()  # the owner finds the name gone: not an error
