"""Pickling: a SharedArray travels as its handle; unpickling attaches once per process."""
import multiprocessing as mp
import os
import pickle
from multiprocessing import shared_memory
from multiprocessing.managers import SharedMemoryManager

import numpy as np
import pytest

import shmanager
from shmanager import SharedArray

from conftest import TEST_PREFIX, exists, untrack_from_resource_tracker


def test_pickle_is_a_few_dozen_bytes(cleanup):
    sa = cleanup(SharedArray.allocate(None, (1000, 1000), "f8"))
    blob = pickle.dumps(sa)
    assert len(blob) < 128, len(blob)
    assert sa.handle.encode() in blob
    assert len(pickle.dumps((sa, 999))) < 140


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_round_trip_every_protocol(protocol, cleanup):
    sa = cleanup(SharedArray.copy(None, np.arange(12, dtype=">i4").reshape(3, 4)))
    back = cleanup(pickle.loads(pickle.dumps(sa, protocol=protocol)))
    assert back.owner is False
    assert (back.name, back.shape, back.dtype) == (sa.name, sa.shape, sa.dtype)
    np.testing.assert_array_equal(back.as_array(), sa.as_array())


def test_unpickling_reuses_one_mapping(cleanup):
    sa = cleanup(SharedArray.copy(None, np.arange(10.0)))
    blob = pickle.dumps(sa)
    first, second = pickle.loads(blob), pickle.loads(blob)
    assert first is not second
    assert first.as_array().base is second.as_array().base, "one mapping for both"
    assert sa.name in shmanager.cache_info()
    first.close()  # a task closing its copy does not cost the next one an attach
    third = pickle.loads(blob)
    assert third.as_array().base is second.as_array().base
    second.close()
    third.close()
    assert exists(sa.name), "clients never unlink"


def test_cache_notices_a_replaced_segment(cleanup):
    name = cleanup.name(TEST_PREFIX + f"replaced_{os.getpid()}")
    shm = shared_memory.SharedMemory(name=name, create=True, size=80)
    np.ndarray(10, "f8", buffer=shm.buf)[:] = 1.0
    blob = pickle.dumps(cleanup(SharedArray.attach(name, 10, "f8")))
    assert pickle.loads(blob).as_array().sum() == 10.0
    shm.close()
    shm.unlink()
    with pytest.raises(FileNotFoundError):
        pickle.loads(blob)  # the cached mapping is of a segment that is gone
    shm = shared_memory.SharedMemory(name=name, create=True, size=80)
    try:
        np.ndarray(10, "f8", buffer=shm.buf)[:] = 2.0
        assert pickle.loads(blob).as_array().sum() == 20.0, "a new segment under the old name"
    finally:
        shm.close()
        shm.unlink()


def test_miss_sweeps_entries_of_unlinked_segments(cleanup):
    a = SharedArray.copy(None, np.arange(3.0))
    pickle.loads(pickle.dumps(a)).close()
    assert a.name in shmanager.cache_info()
    a.close()
    b = cleanup(SharedArray.copy(None, np.arange(3.0)))
    pickle.loads(pickle.dumps(b)).close()
    assert a.name not in shmanager.cache_info()
    shmanager.clear_cache()
    assert shmanager.cache_info() == []


def test_unpickling_a_missing_segment():
    sa = SharedArray.allocate(None, 3, "f8")
    blob = pickle.dumps(sa)
    sa.close()
    shmanager.clear_cache()
    with pytest.raises(FileNotFoundError):
        pickle.loads(blob)


def test_subclass_round_trip(cleanup):
    class Tagged(SharedArray):
        pass

    globals()["Tagged"] = Tagged  # picklable by reference
    Tagged.__qualname__ = "Tagged"
    sa = cleanup(Tagged.allocate(None, 3, "f8"))
    back = cleanup(pickle.loads(pickle.dumps(sa)))
    assert type(back) is Tagged


def test_copy_module_gives_a_client(cleanup):
    import copy

    sa = cleanup(SharedArray.copy(None, np.arange(4)))
    c = cleanup(copy.copy(sa))
    assert c.owner is False and c.name == sa.name


# --- Pool -------------------------------------------------------------------------------------


def _row_sum_with_pid(args):
    shared, row = args
    arr = shared.as_array()
    return os.getpid(), id(arr.base), float(arr[row].sum())


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
@pytest.mark.parametrize("kind", ["smm", "shmanager"])
def test_pool_attaches_once_per_worker(method, kind, cleanup):
    data = np.random.default_rng(5).random((200, 50))
    manager = SharedMemoryManager() if kind == "smm" else shmanager.Manager()
    manager.start()
    try:
        shared = SharedArray.copy(manager, data)
        with mp.get_context(method).Pool(2) as pool:
            results = pool.map(_row_sum_with_pid, [(shared, i) for i in range(200)], chunksize=1)
        np.testing.assert_allclose([r[2] for r in results], data.sum(axis=1))
        mappings = {}
        for pid, base, _ in results:
            mappings.setdefault(pid, set()).add(base)
        assert all(len(b) == 1 for b in mappings.values()), "one attach per worker process"
        assert exists(shared.name), "worker exits never unlink"
        np.testing.assert_array_equal(shared.as_array(), data)
        name = shared.name
    finally:
        manager.shutdown()
    assert not exists(name)


def _write_row(args):
    shared, row = args
    shared.as_array()[row] = row
    return row


def test_workers_write_visible_to_parent(cleanup):
    shared = cleanup(SharedArray.allocate(None, (50, 10), "i8"))
    with mp.get_context("fork").Pool(2) as pool:
        pool.map(_write_row, [(shared, i) for i in range(50)])
    assert (shared.as_array() == np.arange(50)[:, None]).all()


def _attach_and_exit(name):
    sa = SharedArray.attach(name)
    return float(sa.as_array().sum())  # no close(): the worker just exits


def test_worker_that_attaches_by_name_and_exits(cleanup):
    shared = cleanup(SharedArray.copy(None, np.ones(10)))
    ctx = mp.get_context("spawn")
    with ctx.Pool(1, maxtasksperchild=1) as pool:
        assert pool.map(_attach_and_exit, [shared.name] * 3) == [10.0] * 3
    assert exists(shared.name)


def test_no_resource_tracker_registration(cleanup):
    """Our segments never go through multiprocessing.shared_memory, so the resource tracker
    must not know them (bpo-38119: it would unlink them when any attacher exits)."""
    from multiprocessing import resource_tracker

    sa = cleanup(SharedArray.allocate(None, 3, "f8"))
    cleanup(SharedArray.attach(sa.name))
    cleanup(pickle.loads(pickle.dumps(sa)))
    # The tracker's registry lives in its own process; what we can check here is that nothing
    # in this module called register: patch it and repeat the whole cycle.
    calls = []
    original = resource_tracker.register
    resource_tracker.register = lambda *a: calls.append(a)
    try:
        with SharedMemoryManager() as m:
            x = SharedArray.copy(m, np.arange(3))
            SharedArray.attach(x.name).close()
            x.close()
        with shmanager.Manager() as m:
            SharedArray.allocate(m, 3, "f8").close()
    finally:
        resource_tracker.register = original
    assert calls == []


def test_attaching_with_plain_shared_memory_needs_unregister(cleanup):
    """What a user of Python's SharedMemory must do to attach to our segment without the
    resource tracker unlinking it at exit (documented in the README)."""
    sa = cleanup(SharedArray.copy(None, np.arange(6.0)))
    shm = shared_memory.SharedMemory(name=sa.name)
    untrack_from_resource_tracker(shm)
    view = np.ndarray(sa.shape, sa.dtype, buffer=shm.buf)
    assert view.sum() == 15.0
    del view
    shm.close()
