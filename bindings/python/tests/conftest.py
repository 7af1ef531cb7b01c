"""Fixtures for the shmanager Python suite.

Every segment a test makes is removed at teardown whether the test passed or failed: arrays and
names go through the `cleanup` fixture, managers through `smm`/`cmgr`, and a session fixture
fails the run if /dev/shm holds a new segment of ours at the end (removing it first, so one leak
does not break the next run). "Ours": made by this process or a process the suite started (its
trailer names the creator), or named with the suite's own prefix; other programs may be using
/dev/shm at the same time and their segments are none of our business.
"""
import os
import subprocess
import sys
from multiprocessing import resource_tracker
from multiprocessing.managers import SharedMemoryManager

import pytest

import shmanager

SHM_DIR = "/dev/shm"
HERE = os.path.dirname(os.path.abspath(__file__))


def shm_names():
    try:
        return set(os.listdir(SHM_DIR))
    except FileNotFoundError:
        return set()


def exists(name):
    return os.path.exists(os.path.join(SHM_DIR, name))


# This process and every process the suite starts itself (recorded by the helpers below).
OUR_PIDS = {os.getpid()}
TEST_PREFIX = "test_shma_"  # names the suite chooses itself start with this


def ours(names):
    """The segments among `names` that this suite made."""
    result = set()
    for name in names:
        if name.startswith(TEST_PREFIX):
            result.add(name)
            continue
        try:
            info = shmanager.inspect(name)
        except (OSError, ValueError):
            continue
        if info.get("has_meta") and info["creator_pid"] in OUR_PIDS:
            result.add(name)
    return result


def new_segments_of_ours(before):
    return ours(shm_names() - before)


@pytest.fixture(scope="session", autouse=True)
def no_leaked_segments():
    before = shm_names()
    yield
    leaked = sorted(new_segments_of_ours(before))
    for name in leaked:
        try:
            os.unlink(os.path.join(SHM_DIR, name))
        except OSError:
            pass
    assert not leaked, f"the suite left segments in /dev/shm (now removed): {leaked}"


class Cleanup:
    """Closes SharedArrays and unlinks names at teardown, in reverse order of registration."""

    def __init__(self):
        self.arrays = []
        self.names = []

    def __call__(self, sa):
        self.arrays.append(sa)
        return sa

    def name(self, name):
        self.names.append(name)
        return name

    def finish(self):
        for sa in reversed(self.arrays):
            try:
                sa.close()
            except Exception:
                pass
        for name in self.names:
            try:
                os.unlink(os.path.join(SHM_DIR, name.lstrip("/")))
            except OSError:
                pass


@pytest.fixture
def cleanup():
    c = Cleanup()
    yield c
    c.finish()


@pytest.fixture
def smm():
    manager = SharedMemoryManager()
    manager.start()
    try:
        yield manager
    finally:
        manager.shutdown()


@pytest.fixture
def cmgr():
    manager = shmanager.Manager()
    try:
        yield manager
    finally:
        manager.shutdown()


@pytest.fixture(params=["none", "shmanager", "smm"])
def any_manager(request, cleanup):
    """Each kind of manager the API accepts. With None, `cleanup` closes what the test leaves."""
    if request.param == "none":
        yield None
    elif request.param == "shmanager":
        with shmanager.Manager() as m:
            yield m
    else:
        with SharedMemoryManager() as m:
            yield m


def untrack_from_resource_tracker(shm):
    """Python < 3.13 registers a SharedMemory with the resource tracker even when it only
    attaches (bpo-38119), and the tracker would unlink the segment when this process exits.
    A process that only attaches must unregister it."""
    resource_tracker.unregister(shm._name, "shared_memory")


def python_env(extra_path=()):
    env = dict(os.environ)
    pkg_dir = os.path.dirname(os.path.dirname(os.path.abspath(shmanager.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([pkg_dir] + list(extra_path) + env.get("PYTHONPATH", "").split(os.pathsep))
    env.pop("PYTHONWARNINGS", None)
    return env


def run_python(code_or_path, *, is_file=False, extra_path=(), timeout=300, args=()):
    """Runs Python in a fresh interpreter; returns the CompletedProcess (text output)."""
    cmd = [sys.executable]
    cmd += [code_or_path] if is_file else ["-c", code_or_path]
    cmd += list(args)
    return run(cmd, env=python_env(extra_path), timeout=timeout)


def run(cmd, *, env=None, timeout=300, input=None):
    """subprocess.run with captured text output, recording the child's pid as ours."""
    with subprocess.Popen(
        cmd, env=env, cwd=HERE, text=True, stdin=subprocess.PIPE if input is not None else None,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    ) as proc:
        OUR_PIDS.add(proc.pid)
        try:
            out, err = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError(f"{cmd} timed out after {timeout}s:\n{out}\n{err}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def popen(cmd, **kwargs):
    proc = subprocess.Popen(cmd, cwd=HERE, **kwargs)
    OUR_PIDS.add(proc.pid)
    return proc
