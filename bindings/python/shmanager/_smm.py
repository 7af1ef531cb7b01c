"""Registering shmanager segments with Python's multiprocessing SharedMemoryManager.

The C core creates the segment (so it carries shmanager's metadata trailer and a name the core
chose), then the manager's server is told to track it with the server's own `track_segment`
call: the same call SharedMemoryManager.SharedMemory() makes for the blocks it creates. The
server unlinks every tracked segment when the manager shuts down. When an owner closes (and so
unlinks) a segment first, `release_segment` makes the server forget it; otherwise the server
would fail on the missing segment at shutdown and the manager would wait for its timeout.

Nothing here goes through multiprocessing.shared_memory.SharedMemory in this process, so the
resource tracker never hears of shmanager segments (bpo-38119 cannot unlink them early).
"""
from multiprocessing.managers import BaseManager, RemoteError, State, dispatch

try:
    from multiprocessing.managers import SharedMemoryServer
except ImportError:  # a Python built without _posixshmem
    SharedMemoryServer = None


def check(manager):
    """Raises TypeError unless `manager` is a SharedMemoryManager, ValueError unless started."""
    server = getattr(manager, "_Server", None)
    if (
        not isinstance(manager, BaseManager)
        or SharedMemoryServer is None
        or not isinstance(server, type)
        or not issubclass(server, SharedMemoryServer)
    ):
        raise TypeError(
            "manager must be a multiprocessing.managers.SharedMemoryManager, a "
            f"shmanager.Manager or None, not {type(manager).__name__}"
        )
    if manager._state.value != State.STARTED:
        raise ValueError(
            "the SharedMemoryManager is not running: use it as `with SharedMemoryManager() as "
            "manager:` or call manager.start() first"
        )
    return True


def running(manager):
    """Whether the manager's server still runs (so still owns the segments it tracks)."""
    return manager._state.value == State.STARTED


def _call(manager, method, name):
    with manager._Client(manager._address, authkey=manager._authkey) as conn:
        dispatch(conn, None, method, (name,))


def track(manager, name):
    """Hands the segment to the manager's server, which unlinks it at shutdown."""
    _call(manager, "track_segment", name)


def untrack(manager, name):
    """When the owner closes: the server unlinks the segment and forgets it (if still running)."""
    if manager._state.value != State.STARTED:
        return  # shut down: the server already unlinked everything it tracked
    try:
        _call(manager, "release_segment", name)
    except RemoteError as e:
        # The server drops the name from its list first, then opens the segment to unlink it:
        # if something else removed it already, that open fails, which is fine here.
        if "FileNotFoundError" not in str(e):
            raise
    except (ConnectionError, EOFError):
        pass  # the server went away meanwhile: at shutdown it unlinked what it tracked
