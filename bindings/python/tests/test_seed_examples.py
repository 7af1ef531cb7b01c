"""Every code example of the seed README, run as written (sizes reduced; see each file's header).

Each runs in a fresh interpreter with the default (fork) start method, must exit 0 and print
nothing on stderr: no resource_tracker warning about leaked segments, no ResourceWarning, no
traceback from a worker or a manager's server.
"""
import os

import pytest

from conftest import HERE, run_python, shm_names

EXAMPLES = sorted(f for f in os.listdir(os.path.join(HERE, "seed_examples")) if f.endswith(".py"))


@pytest.fixture(scope="module")
def tqdm_path(tmp_path_factory):
    """tqdm is not part of the project: a pass-through stand-in when it is not installed."""
    try:
        import tqdm  # noqa: F401

        return ()
    except ImportError:
        stub = tmp_path_factory.mktemp("tqdm_stub")
        (stub / "tqdm.py").write_text("def tqdm(iterable=None, *args, **kwargs):\n    return iterable\n")
        return (str(stub),)


def test_all_examples_present():
    assert len(EXAMPLES) == 10


@pytest.mark.parametrize("example", EXAMPLES)
def test_seed_example(example, tqdm_path):
    before = shm_names()
    r = run_python(os.path.join(HERE, "seed_examples", example), is_file=True, extra_path=tqdm_path)
    assert r.returncode == 0, f"{example} failed:\n{r.stdout}\n{r.stderr}"
    assert r.stderr == "", f"{example} wrote to stderr:\n{r.stderr}"
    left = {n for n in shm_names() - before if n.startswith(("shma_", "psm_12345"))}
    # Other programs may create segments meanwhile; ours would carry the example's pid.
    from conftest import ours

    assert ours(left) == set() and "psm_12345" not in left, left
