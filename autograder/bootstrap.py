"""Create the course environment if it is missing or stale, then run a command inside it.

Standard library only, so that it runs on a fresh machine with nothing but Python 3.11+ and pip::

    python3 autograder/bootstrap.py cvcourse grade     # the main job
    python3 autograder/bootstrap.py pytest             # the whole test suite

The environment is ``.venv/`` at the top of the repository; it is rebuilt when ``pyproject.toml``
changes. ``CVCOURSE_VENV`` names another place for it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def ensure_environment() -> Path:
    """Return the environment's ``bin`` folder, creating or refreshing the environment first."""
    if sys.version_info < (3, 11):
        sys.exit(f"cvcourse needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    venv = Path(os.environ.get("CVCOURSE_VENV", REPO / ".venv"))
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    stamp = venv / ".cvcourse-installed"
    wanted = hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text().strip() == wanted and (bin_dir / "cvcourse").exists():
        return bin_dir
    if not (bin_dir / "python").exists():
        print(f"bootstrap: creating {venv}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    print("bootstrap: installing the course and its pinned dependencies (first run only; torch is large)",
          flush=True)
    subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "--no-cache-dir", "-e", str(REPO)], check=True)
    stamp.write_text(wanted)
    return bin_dir


def ensure_bubblewrap() -> None:
    """Install bubblewrap (the grader's sandbox) with apt when it is missing and this runs as root.

    Elsewhere nothing is installed: ``cvcourse grade`` then stops and says what to do.
    """
    if shutil.which("bwrap") or os.name != "posix" or os.geteuid() != 0 or not shutil.which("apt-get"):
        return
    print("bootstrap: installing bubblewrap (the sandbox for student kernels) with apt-get", flush=True)
    quiet = {"stdout": subprocess.DEVNULL, "env": dict(os.environ, DEBIAN_FRONTEND="noninteractive")}
    if subprocess.run(["apt-get", "install", "-y", "-qq", "bubblewrap"], **quiet).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], **quiet)
        subprocess.run(["apt-get", "install", "-y", "-qq", "bubblewrap"], **quiet)


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    bin_dir = ensure_environment()
    ensure_bubblewrap()
    command, args = sys.argv[1], sys.argv[2:]
    executable = bin_dir / command
    if not executable.exists():
        sys.exit(f"bootstrap: {command} is not installed in {bin_dir.parent}")
    os.chdir(REPO)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    os.execve(executable, [str(executable), *args], env)


if __name__ == "__main__":
    main()
