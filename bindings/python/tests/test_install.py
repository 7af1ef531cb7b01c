"""`make install-python` (the README's install command) gives an importable package."""
import os
import subprocess
import sys

import pytest

from conftest import HERE, run

ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))


@pytest.mark.skipif(not os.path.exists(os.path.join(ROOT, "bindings", "python", "python.mk")), reason="not in the repo")
def test_install_python_into_a_site_dir(tmp_path):
    site = tmp_path / "site"
    env = dict(os.environ, PYTHON=sys.executable)
    r = subprocess.run(
        ["make", "-s", "-C", ROOT, "install-python", f"PYTHON_SITE={site}"],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert (site / "shmanager" / "__init__.py").exists()
    code = (
        "import importlib.metadata, numpy as np, shmanager\n"
        "from multiprocessing.managers import SharedMemoryManager\n"
        f"assert shmanager.__file__.startswith({str(site)!r}), shmanager.__file__\n"
        "assert importlib.metadata.version('shmanager') == shmanager.__version__\n"
        "with SharedMemoryManager() as m:\n"
        "    sa = shmanager.SharedArray.copy(m, np.arange(5.0))\n"
        "    print(shmanager.SharedArray.attach(sa.name).as_array().sum())\n"
    )
    clean_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    clean_env["PYTHONPATH"] = str(site)
    r = run([sys.executable, "-c", code], env=clean_env)
    assert r.returncode == 0 and r.stdout.strip() == "10.0", r.stderr
    r = subprocess.run(["make", "-s", "-C", ROOT, "uninstall-python", f"PYTHON_SITE={site}"], capture_output=True)
    assert r.returncode == 0 and not (site / "shmanager").exists()
