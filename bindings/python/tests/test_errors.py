"""Errors: the seed's exception types, carrying the C core's detail message."""
from multiprocessing.managers import SharedMemoryManager, SyncManager

import numpy as np
import pytest

import shmanager
from shmanager import SharedArray

from conftest import new_segments_of_ours, shm_names


@pytest.fixture(autouse=True)
def nothing_left_behind():
    """A failed create must leave nothing in /dev/shm."""
    before = shm_names()
    yield
    assert new_segments_of_ours(before) == set()


@pytest.mark.parametrize(
    "shape, message",
    [
        ((3, -5), r"shape\[1\] = -5 is negative"),
        (-1, r"shape\[0\] = -1 is negative"),
        ((2**62, 2**62), "overflow"),
        ((2**63,), r"shape\[0\] = 9223372036854775808 does not fit in 64 bits"),
        ((1,) * 65, r"ndim = 65 is out of range 0\.\.(32|64)"),
    ],
)
def test_bad_shape_values_are_value_errors(shape, message):
    with pytest.raises(ValueError, match=message) as info:
        SharedArray.allocate(None, shape, "f8")
    assert info.type is ValueError


@pytest.mark.parametrize("shape", [2.0, "10", None, (2, 3.0), (2, None), {"a": 1}, b"ab", object()])
def test_bad_shape_types_are_type_errors(shape):
    with pytest.raises(TypeError, match="shape"):
        SharedArray.allocate(None, shape, "f8")


@pytest.mark.parametrize("dtype", ["float65", "not-a-dtype", object, "O", "i4,f8", [("a", "i4")], "(2,)f8", 3.5])
def test_bad_dtypes_are_type_errors(dtype):
    with pytest.raises(TypeError):
        SharedArray.allocate(None, 4, dtype)


def test_structured_dtype_message():
    with pytest.raises(TypeError, match="structured"):
        SharedArray.allocate(None, 4, np.dtype([("a", "i4"), ("b", "f8")]))


def test_object_arrays_cannot_be_copied():
    with pytest.raises(TypeError):
        SharedArray.copy(None, np.array([object(), 1], dtype=object))


def test_missing_name_is_file_not_found():
    with pytest.raises(FileNotFoundError, match="no shared-memory segment named 'shma_does_not_exist'") as info:
        SharedArray.attach("shma_does_not_exist", (3,), "f8")
    assert info.value.errno == 2
    assert info.value.shma_error == "SHMA_E_NOTFOUND"
    with pytest.raises(FileNotFoundError):
        SharedArray.attach("shma_does_not_exist")
    with pytest.raises(FileNotFoundError):
        SharedArray.attach_unsafe("shma_does_not_exist", (3,), "f8")


def test_size_mismatch_is_value_error(cleanup):
    owner = cleanup(SharedArray.allocate(None, (100, 100), "f8"))
    with pytest.raises(ValueError, match=r"holds shape \(100, 100\) dtype <f8, not shape \(200, 100\) dtype <f8") as i:
        SharedArray.attach(owner.name, (200, 100), "f8")
    assert i.value.shma_error == "SHMA_E_MISMATCH"
    with pytest.raises(ValueError, match="dtype <f8, not shape .* dtype <i8"):
        SharedArray.attach(owner.name, (100, 100), "i8")


def test_foreign_segment_too_small_is_value_error(cleanup):
    from multiprocessing import shared_memory

    shm = shared_memory.SharedMemory(create=True, size=4096)
    try:
        with pytest.raises(ValueError, match=r"holds 4096 bytes, shape \(1000,\) <f8 needs 8000") as i:
            SharedArray.attach(shm.name, 1000, "f8")
        assert i.value.shma_error == "SHMA_E_SIZE"
        with pytest.raises(ValueError, match="no shmanager metadata"):
            SharedArray.attach(shm.name)  # nothing to read shape and dtype from
    finally:
        shm.close()
        shm.unlink()


@pytest.mark.parametrize("name", ["", "/", "a/b", "..", "x" * 300, "bad\nname"])
def test_bad_names_are_value_errors(name):
    with pytest.raises(ValueError):
        SharedArray.attach(name, 3, "f8")


@pytest.mark.parametrize("name", [None, 5, b"shma_x"])
def test_name_must_be_str(name):
    with pytest.raises(TypeError, match="name must be a str"):
        SharedArray.attach(name, 3, "f8")


def test_nul_in_name():
    with pytest.raises(ValueError, match="NUL"):
        SharedArray.attach("shma\0x", 3, "f8")


@pytest.mark.parametrize("manager", [42, "manager", object()])
def test_bad_manager_is_type_error(manager):
    with pytest.raises(TypeError, match="manager must be"):
        SharedArray.allocate(manager, 3, "f8")


def test_other_multiprocessing_manager_is_type_error():
    with SyncManager() as m:
        with pytest.raises(TypeError, match="SharedMemoryManager"):
            SharedArray.allocate(m, 3, "f8")


def test_unstarted_or_stopped_smm_is_value_error():
    m = SharedMemoryManager()
    with pytest.raises(ValueError, match="not running"):
        SharedArray.allocate(m, 3, "f8")
    m.start()
    m.shutdown()
    with pytest.raises(ValueError, match="not running"):
        SharedArray.copy(m, np.zeros(3))


def test_shut_down_manager_is_value_error():
    m = shmanager.Manager()
    m.shutdown()
    with pytest.raises(ValueError, match="shut down"):
        SharedArray.allocate(m, 3, "f8")
    with pytest.raises(ValueError, match="shut down"):
        m.start()


def test_bad_template_is_type_error():
    with pytest.raises(TypeError, match="template"):
        SharedArray.allocate_like(None, [1, 2, 3])


@pytest.mark.parametrize(
    "call",
    [
        lambda: SharedArray.allocate(None),
        lambda: SharedArray.allocate(None, 3, "f8", 4),
        lambda: SharedArray.allocate(None, 3, colour="red"),
        lambda: SharedArray.allocate(None, 3, shape=3),
        lambda: SharedArray.attach(),
        lambda: SharedArray.attach_unsafe("x", (3,)),
        lambda: SharedArray.attach_unsafe("x", None, "f8"),
        lambda: SharedArray.copy(None),
    ],
)
def test_bad_calls_are_type_errors(call):
    with pytest.raises(TypeError):
        call()


def test_error_message_names_the_code():
    with pytest.raises(ValueError) as info:
        SharedArray.allocate(None, (-1,), "f8")
    assert info.value.shma_error == "SHMA_E_SHAPE"


def test_manager_cannot_be_pickled():
    import pickle

    with shmanager.Manager(reaper=False) as m:
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(m)


def test_closed_array_cannot_be_pickled():
    import pickle

    sa = SharedArray.allocate(None, 3, "f8")
    sa.close()
    with pytest.raises(ValueError, match="closed"):
        pickle.dumps(sa)


def test_copy_rejects_strides_that_overflow():
    # Offsets 0, 2**62, 2**63: the last overflows int64; rejected before anything is created
    # (the autouse fixture checks /dev/shm). Never read: as_strided does not touch memory.
    weird = np.lib.stride_tricks.as_strided(np.zeros(4), shape=(3,), strides=(2**62,))
    with pytest.raises(ValueError):
        SharedArray.copy(None, weird)
