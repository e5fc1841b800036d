"""``cvcourse lab``: JupyterLab on ``notebooks/`` with the student's side of nbgrader set up.

nbgrader's student panels (the Assignment list, the Validate button) read an ``nbgrader_config.py``
from the server's working folder or Jupyter's config path, and list assignments from an exchange
folder (by default ``/usr/local/share/nbgrader/exchange``, which nobody made). Without them every
panel shows an error. The command therefore owns one folder (``work/lab/`` by default) that holds

* ``config/nbgrader_config.py``: the course id, the exchange and cache below, and the time a cell
  may take under Validate (the grader's own limit), made from :func:`autograder.course.student_config`;
* ``config/labconfig/page_config.json``: nbgrader's instructor panels switched off (formgrader would take
  ``notebooks/`` for a course folder and keep its gradebook there; course list and "create assignment"
  are tools for writing and grading a course, not for taking it);
* ``exchange/`` and ``cache/``: nbgrader's exchange and the student's submission cache.

``config/`` is put first on ``$JUPYTER_CONFIG_PATH`` for the server and everything it starts.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from .course import NOTEBOOKS, REPO, student_config, write_config

#: The folder ``cvcourse lab`` owns unless told another.
DEFAULT_HOME = REPO / "work" / "lab"
#: The server listens on this address only: the notebook server runs code for whoever reaches it.
LOOPBACK = "127.0.0.1"
#: nbgrader's instructor panels, which have no course folder to work on in a student's Lab.
INSTRUCTOR_PLUGINS = ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                      "@jupyter/nbgrader:course-list")


@dataclass(frozen=True)
class LabHome:
    """The folder ``cvcourse lab`` owns (see the module docstring)."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config"

    @property
    def exchange(self) -> Path:
        return self.root / "exchange"

    @property
    def cache(self) -> Path:
        return self.root / "cache"


def prepare(root: Path = DEFAULT_HOME) -> LabHome:
    """Create (or refresh) the command's folder at ``root``: config files, exchange and cache."""
    home = LabHome(Path(root).resolve())
    for folder in (home.config / "labconfig", home.exchange, home.cache):
        folder.mkdir(parents=True, exist_ok=True)
    write_config(home.config / "nbgrader_config.py", student_config(home.exchange, home.cache),
                 "`cvcourse lab` (autograder/lab.py) on every start")
    write_page_config(home.config)
    return home


def write_page_config(config: Path) -> None:
    """``<config>/labconfig/page_config.json``: nbgrader's :data:`INSTRUCTOR_PLUGINS` off in JupyterLab."""
    page = {"disabledExtensions": {name: True for name in INSTRUCTOR_PLUGINS}}
    (config / "labconfig").mkdir(parents=True, exist_ok=True)
    (config / "labconfig" / "page_config.json").write_text(json.dumps(page, indent=2) + "\n")


def environment(home: LabHome, base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with ``home.config`` first on Jupyter's config path."""
    env = dict(os.environ if base is None else base)
    paths = [str(home.config)] + [p for p in env.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep) if p]
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(paths)
    return env


def command(port: int | None = None, *, root: Path = NOTEBOOKS, token: str | None = None,
            open_browser: bool = True, settings_dir: Path | None = None, workspaces_dir: Path | None = None,
            extra: list[str] = ()) -> list[str]:
    """The ``jupyter lab`` command line, to run with ``root`` as the working folder.

    Args:
        port: the port to listen on; None for Jupyter's default (8888, or the next free one).
        root: the folder Lab shows (nbgrader's panels also read ``nbgrader_config.py`` from it, if any).
        token: the access token; None lets Jupyter make one and print it.
        open_browser: open a browser on start.
        settings_dir, workspaces_dir: JupyterLab's user settings and workspaces; None for the user's own.
        extra: further arguments for ``jupyter lab`` (they come last and win).
    """
    argv = [sys.executable, "-m", "jupyter", "lab", f"--ServerApp.ip={LOOPBACK}",
            f"--ServerApp.root_dir={root}"]
    if port is not None:
        argv += [f"--ServerApp.port={port}", "--ServerApp.port_retries=0"]
    if token is not None:
        argv += [f"--IdentityProvider.token={token}"]
    if not open_browser:
        argv += ["--no-browser"]
    if settings_dir is not None:
        argv += [f"--LabApp.user_settings_dir={settings_dir}"]
    if workspaces_dir is not None:
        argv += [f"--LabApp.workspaces_dir={workspaces_dir}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        argv += ["--allow-root"]
    return argv + list(extra)
