"""Interop with Python's plain multiprocessing.shared_memory.SharedMemory, both ways."""
from multiprocessing import shared_memory

import numpy as np
import pytest

from shmanager import SharedArray

from conftest import exists, run_python, untrack_from_resource_tracker


def test_shared_memory_block_attached_as_shared_array(cleanup):
    shm = shared_memory.SharedMemory(create=True, size=1000 * 8)
    try:
        theirs = np.ndarray((10, 100), dtype="f8", buffer=shm.buf)
        theirs[:] = np.arange(1000).reshape(10, 100)
        sa = cleanup(SharedArray.attach(shm.name, (10, 100), "float64"))
        assert sa.owner is False and sa.name == shm.name
        ours = sa.as_array()
        np.testing.assert_array_equal(ours, theirs)
        ours[0, 0] = -1.0
        assert theirs[0, 0] == -1.0
        # A smaller view of a bigger block is fine (Python rounds blocks up to pages anyway).
        small = cleanup(SharedArray.attach(shm.name, 10, "f8"))
        assert small.as_array().tolist()[1:] == list(range(1, 10))
        sa.close()
        small.close()
        assert exists(shm.name), "a client never unlinks someone else's block"
        del theirs, ours
    finally:
        shm.close()
        shm.unlink()


def test_shared_array_read_through_shared_memory(cleanup):
    sa = cleanup(SharedArray.copy(None, np.arange(24, dtype=">i8").reshape(4, 6)))
    shm = shared_memory.SharedMemory(name=sa.name)  # attach: Python < 3.13 registers it (bpo-38119)
    untrack_from_resource_tracker(shm)
    try:
        # The data starts at offset 0; the block is larger (padding and shmanager's trailer).
        assert shm.size >= sa.nbytes
        view = np.ndarray(sa.shape, dtype=sa.dtype, buffer=shm.buf)
        np.testing.assert_array_equal(view, sa.as_array())
        view[3, 5] = 1000
        assert sa.as_array()[3, 5] == 1000
        del view
    finally:
        shm.close()


def test_smm_shared_memory_block_attached(smm, cleanup):
    block = smm.SharedMemory(size=64)
    np.ndarray(8, "i8", buffer=block.buf)[:] = 7
    sa = cleanup(SharedArray.attach(block.name, 8, "i8"))
    assert sa.as_array().sum() == 56
    block.close()


SUBPROCESS = r"""
import sys
import numpy as np
from multiprocessing import shared_memory, resource_tracker
mode, name = sys.argv[1], sys.argv[2]
shm = shared_memory.SharedMemory(name=name)
resource_tracker.unregister(shm._name, "shared_memory")
view = np.ndarray((100,), dtype="f8", buffer=shm.buf)
if mode == "check":
    assert (view == np.arange(100.0)).all(), view
else:
    view[:] = 5.0
del view
shm.close()
print("ok")
"""


@pytest.mark.parametrize("mode", ["check", "write"])
def test_another_process_using_shared_memory(mode, cleanup):
    sa = cleanup(SharedArray.copy(None, np.arange(100.0)))
    r = run_python(SUBPROCESS, args=(mode, sa.name))
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
    assert r.stderr == "", "no resource_tracker warning"
    assert exists(sa.name), "the other process's exit did not unlink"
    expect = np.arange(100.0) if mode == "check" else np.full(100, 5.0)
    np.testing.assert_array_equal(sa.as_array(), expect)


def test_manager_types_mixed(smm):
    # One SharedMemoryManager tracking both its own blocks and ours; shutdown removes all.
    block = smm.SharedMemory(size=128)
    sa = SharedArray.allocate(smm, 16, "f8")
    names = [block.name, sa.name]
    block.close()
    smm.shutdown()
    assert not any(exists(n) for n in names)
    sa.close()
