"""Lifetimes: views outliving close(), managers shutting down, forks, crashes, threads.

Documented behaviour under test: close() by the owner unlinks the segment at once, but the
memory stays mapped while any NumPy view from as_array() is alive (the view's base is the
mapping); it is unmapped when the last view goes. No view ever points into unmapped memory.
"""
import gc
import multiprocessing as mp
import signal
import sys
import threading
import time
import warnings
from multiprocessing.managers import SharedMemoryManager

import numpy as np
import pytest

import shmanager
from shmanager import SharedArray

from conftest import exists, popen, python_env


def mapped(name):
    """Whether this process maps the segment (deleted or not)."""
    with open("/proc/self/maps") as f:
        return any(f"/dev/shm/{name}" in line for line in f)


def test_owner_close_with_live_view_unlinks_now_unmaps_later():
    sa = SharedArray.allocate(None, (1000, 100), "f8")
    name = sa.name
    view = sa.as_array()
    view[:] = 3.0
    sa.close()
    assert not exists(name), "close() unlinks at once"
    assert mapped(name), "the view keeps the memory mapped"
    view[5, 5] = 4.0  # still valid memory: no crash
    assert view.sum() == 3.0 * 100000 + 1.0
    del view
    gc.collect()
    assert not mapped(name), "the last view's death unmaps"


def test_views_of_views_keep_the_mapping():
    sa = SharedArray.copy(None, np.arange(100.0))
    name = sa.name
    part = sa.as_array()[10:20][::2]
    transposed = sa.as_array().reshape(10, 10).T
    sa.close()
    del sa
    gc.collect()
    assert mapped(name)
    assert part.tolist() == [10.0, 12.0, 14.0, 16.0, 18.0]
    assert transposed[3, 2] == 23.0
    del part, transposed
    gc.collect()
    assert not mapped(name)


def test_close_without_views_unmaps_at_once():
    sa = SharedArray.allocate(None, 1000, "f8")
    name = sa.name
    sa.as_array()  # a view that is already gone
    sa.close()
    assert not mapped(name) and not exists(name)


def test_client_close_with_live_view(cleanup):
    owner = cleanup(SharedArray.copy(None, np.arange(10)))
    client = SharedArray.attach(owner.name)
    view = client.as_array()
    client.close()
    assert exists(owner.name)
    assert view.tolist() == list(range(10))
    owner.close()
    assert view.tolist() == list(range(10))


def test_dropping_the_shared_array_keeps_views_valid(cleanup):
    owner = cleanup(SharedArray.copy(None, np.arange(5)))
    view = SharedArray.attach(owner.name).as_array()  # the client object dies at once
    gc.collect()
    assert view.tolist() == [0, 1, 2, 3, 4]


def test_c_manager_shutdown_unlinks_but_views_survive():
    m = shmanager.Manager()
    a = SharedArray.copy(m, np.arange(6.0))
    b = SharedArray.allocate(m, (3, 3), "i4")
    assert m.count == 2 and m.reaper_pid
    view = a.as_array()
    names = [a.name, b.name]
    m.shutdown()
    assert m.closed and m.count == 0
    assert not any(exists(n) for n in names)
    assert view.sum() == 15.0
    assert a.owner is False  # the manager took its segment away
    a.close()
    b.close()
    a.close()
    assert view.sum() == 15.0
    m.shutdown()  # idempotent


def test_c_manager_close_releases_from_manager():
    with shmanager.Manager(reaper=False) as m:
        assert m.reaper_pid is None
        a = SharedArray.allocate(m, 4, "f8")
        assert m.count == 1
        a.close()
        assert m.count == 0 and not exists(a.name)


def test_manager_garbage_collected_shuts_down():
    m = shmanager.Manager(reaper=False)
    sa = SharedArray.allocate(m, 4, "f8")
    del m
    gc.collect()
    assert not exists(sa.name)
    sa.close()


def test_smm_shutdown_unlinks_and_views_survive():
    with SharedMemoryManager() as m:
        a = SharedArray.copy(m, np.arange(4.0))
        view = a.as_array()
        name = a.name
    assert not exists(name)
    assert view.sum() == 6.0
    a.close()  # after the server unlinked it: no error
    assert view.sum() == 6.0


def test_unclosed_standalone_owner_warns_and_leaks():
    sa = SharedArray.allocate(None, 4, "f8")
    name = sa.name
    with pytest.warns(ResourceWarning, match="never closed"):
        del sa
        gc.collect()
    try:
        assert exists(name), "garbage collection never unlinks; without a manager nothing does"
    finally:
        shmanager.unlink(name)


def test_collected_owner_of_c_manager_lives_until_shutdown():
    with shmanager.Manager() as m:
        name = SharedArray.copy(m, np.arange(5.0)).name  # the owner object dies at once
        gc.collect()
        assert exists(name) and m.count == 1
        assert SharedArray.attach(name).as_array().sum() == 10.0
    assert not exists(name)
    assert not mapped(name), "the orphaned mapping is released at shutdown"


def test_collected_owner_of_smm_lives_until_shutdown():
    with SharedMemoryManager() as m:
        name = SharedArray.allocate(m, 7, "i2").name
        gc.collect()
        assert exists(name)
        client = SharedArray.attach(name, 7, "i2")
        client.close()
    assert not exists(name)
    shmanager.clear_cache()  # releases orphans whose manager stopped
    assert not mapped(name)


def test_unclosed_arrays_with_a_manager_do_not_warn(smm, cmgr):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = SharedArray.allocate(smm, 4, "f8")
        b = SharedArray.allocate(cmgr, 4, "f8")
        c = SharedArray.attach(b.name)
        del a, b, c
        gc.collect()


def _child_closes_inherited(sa, conn):
    sa.close()
    conn.send(sa.owner)
    conn.close()


def test_forked_child_never_unlinks(any_manager, cleanup):
    sa = cleanup(SharedArray.copy(any_manager, np.arange(3.0)))
    ctx = mp.get_context("fork")
    parent_end, child_end = ctx.Pipe()
    p = ctx.Process(target=_child_closes_inherited, args=(sa, child_end))
    p.start()
    child_owner = parent_end.recv()
    p.join()
    assert p.exitcode == 0
    assert child_owner is False, "an inherited owner is not the owner in the child"
    assert exists(sa.name)
    assert sa.owner is True
    assert sa.as_array().tolist() == [0.0, 1.0, 2.0]


FORK_EXIT = r"""
import gc, os, sys, numpy as np, shmanager
with shmanager.Manager() as cm:
    arrays = [shmanager.SharedArray.copy(m, np.arange(3.0)) for m in (None, cm)]
    pid = os.fork()
    if pid == 0:
        # The child leaves through the interpreter's full shutdown: every object finalized.
        arrays[0].close()
        del arrays
        gc.collect()
        sys.exit(0)
    _, status = os.waitpid(pid, 0)
    alive = [os.path.exists("/dev/shm/" + sa.name) for sa in arrays]
    print(os.waitstatus_to_exitcode(status), alive)
    for sa in arrays:
        sa.close()
"""


def test_forked_child_full_exit_never_unlinks():
    from conftest import run_python

    r = run_python(FORK_EXIT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "0 [True, True]"
    assert r.stderr == ""


EXIT_WITHOUT_CLOSE = r"""
import numpy as np, shmanager
sa = shmanager.SharedArray.copy(None, np.arange(3.0))
print(sa.name, flush=True)
"""


def test_interpreter_exit_never_unlinks():
    from conftest import run_python

    r = run_python(EXIT_WITHOUT_CLOSE)
    assert r.returncode == 0 and r.stderr == ""
    name = r.stdout.strip()
    try:
        assert exists(name), "as with SharedMemory, only close() or a manager unlinks"
    finally:
        shmanager.unlink(name)


CRASHER = r"""
import sys, numpy as np, shmanager
m = shmanager.Manager()
sa = shmanager.SharedArray.copy(m, np.arange(10.0))
print(sa.name, flush=True)
sys.stdin.read()  # wait to be killed
"""


def test_reaper_unlinks_after_sigkill():
    import subprocess

    proc = popen(
        [sys.executable, "-c", CRASHER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=python_env()
    )
    try:
        name = proc.stdout.readline().strip()
        assert name.startswith("shma_") and exists(name)
        client = SharedArray.attach(name)
        view = client.as_array()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 20
        while exists(name) and time.monotonic() < deadline:
            time.sleep(0.01)  # the reaper is asynchronous: poll with a deadline
        assert not exists(name), "the reaper should have unlinked the crashed process's segment"
        assert view.sum() == 45.0  # our mapping is unaffected
        client.close()
    finally:
        proc.kill()
        proc.wait()
        if name and exists(name):
            shmanager.unlink(name)


def test_threads_allocating_while_manager_shuts_down():
    m = shmanager.Manager(reaper=False)
    made, errors = [], []
    start = threading.Barrier(5)

    def work():
        start.wait()
        for _ in range(40):
            try:
                made.append(SharedArray.allocate(m, (64, 64), "f8"))
            except ValueError as e:  # the manager is shut down
                errors.append(e)
            except RuntimeError as e:
                errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    start.wait()
    time.sleep(0.005)  # not synchronisation: just lets some allocations happen first
    m.shutdown()
    for t in threads:
        t.join()
    assert len(made) + len(errors) == 160
    assert all("shut down" in str(e) for e in errors)
    assert not any(exists(sa.name) for sa in made)
    for sa in made:
        sa.close()


def test_threads_attach_and_view_concurrently(cleanup):
    owner = cleanup(SharedArray.copy(None, np.arange(1000.0)))
    sums = []

    def work():
        for _ in range(200):
            c = SharedArray.attach(owner.name, 1000, "f8")
            sums.append(c.as_array().sum())
            c.close()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sums == [499500.0] * 800


def _allocate_through_parents_manager(m, conn):
    try:
        SharedArray.allocate(m, 3, "f8")
        conn.send("allocated")
    except RuntimeError as e:
        conn.send(str(e))
    conn.close()


def test_forked_child_cannot_allocate_through_parents_manager(cmgr):
    ctx = mp.get_context("fork")
    parent_end, child_end = ctx.Pipe()
    p = ctx.Process(target=_allocate_through_parents_manager, args=(cmgr, child_end))
    p.start()
    message = parent_end.recv()
    p.join()
    assert "a forked child cannot allocate through its parent's manager" in message
    assert cmgr.count == 0


def test_failed_registration_with_smm_removes_the_segment(smm, monkeypatch):
    import shmanager._smm as smm_module
    from conftest import new_segments_of_ours, shm_names

    def broken(manager, name):
        raise ConnectionError("server unreachable")

    monkeypatch.setattr(smm_module, "track", broken)
    before = shm_names()
    with pytest.raises(ConnectionError):
        SharedArray.allocate(smm, 1000, "f8")
    gc.collect()
    assert new_segments_of_ours(before) == set()


def test_close_during_another_threads_close(smm):
    # close() runs Python code (the server round trip) with the object already marked closed,
    # so a second close() from another thread is a no-op, never a double release.
    sa = SharedArray.allocate(smm, 10, "f8")
    errors = []

    def closer():
        try:
            sa.close()
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=closer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and sa.closed and not exists(sa.name)
