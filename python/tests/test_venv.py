"""`pip install ./python` into a fresh virtual environment, and forkctl imported there."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from tests.support import PYTHON_DIR, REPO, forkctl_binary

SYSTEM_PYTHON = "/usr/bin/python3"


def ensure_venv():
    """Debian splits venv (and ensurepip) into python3-venv: install it when missing."""
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import ensurepip, venv"], capture_output=True)
    if probe.returncode != 0:
        subprocess.run([os.path.join(REPO, "Scripts", "setup"), "python3-venv"], check=True)


class VenvInstallTests(unittest.TestCase):
    def test_pip_install_into_a_fresh_venv_then_spawn_true(self):
        binary = forkctl_binary()
        ensure_venv()
        work = tempfile.mkdtemp(prefix="forkctl-venv-")
        try:
            venv = os.path.join(work, "venv")
            subprocess.run([SYSTEM_PYTHON, "-m", "venv", venv], check=True, capture_output=True)
            # A copy, so that the build (setuptools writes build/ and forkctl.egg-info beside
            # pyproject.toml) leaves the tree as it was.
            source = os.path.join(work, "python")
            shutil.copytree(PYTHON_DIR, source, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info",
                                                                              "tests"))
            python = os.path.join(venv, "bin", "python")
            env = {"PATH": os.path.join(venv, "bin") + ":/usr/bin:/bin", "HOME": work,
                   "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
            installed = subprocess.run([python, "-m", "pip", "install", "--quiet", source], env=env,
                                       capture_output=True, timeout=600)
            self.assertEqual(installed.returncode, 0, installed.stderr.decode())
            code = ("import forkctl, sys; assert forkctl.__file__.startswith(sys.prefix), forkctl.__file__; "
                    "p = forkctl.spawn(['/bin/true']); print(p.wait(), p.pid > 0); "
                    "forkctl.default_client().shutdown()")
            # Out of the tree, so that only the installed package can be imported.
            ran = subprocess.run([python, "-c", code], cwd=work, capture_output=True, timeout=60,
                                 env=dict(env, FORKCTL_SOCKET=os.path.join(work, "run", "sock"),
                                          FORKCTL_EXECUTABLE=binary))
            self.assertEqual((ran.returncode, ran.stdout, ran.stderr), (0, b"0 True\n", b""))
        finally:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(unittest.main())
