"""The course in a JupyterHub classroom: nbgrader's exchange and the configuration both sides read.

On a hub every person gets a Jupyter server of their own, run as their own account on the hub's machine
(``autograder/hub/jupyterhub_config.py``). nbgrader's exchange is a folder that all of them reach; each of
nbgrader's commands runs as the person who asks, and the folder's permissions decide what each may do:

=====================  ==============================================================================
``release_assignment`` the instructor copies ``course/release/<assignment>`` to ``<course>/outbound/``
``fetch_assignment``   a student copies it from ``outbound/`` into their home
``submit``             a student adds a folder to ``inbound/``, which students may write but not list
``collect``            the instructor copies each student's newest to ``course/submitted/``
``release_feedback``   the instructor copies each feedback page to ``feedback/<hash of its secret>.html``
``fetch_feedback``     a student copies back the pages of their own submissions
=====================  ==============================================================================

:func:`setup` (``cvcourse classroom``) makes the exchange and the configuration, as root on the hub's
machine. The instructor's course folder comes from ``cvcourse course``; ``cvcourse grade`` grades what
``nbgrader collect`` put in it.
"""

from __future__ import annotations

import os
from pathlib import Path

from .course import student_config, write_config
from .lab import write_page_config

#: Where a hub keeps nbgrader's exchange, and the configuration every Jupyter process on it reads.
DEFAULT_EXCHANGE = Path("/srv/nbgrader/exchange")
DEFAULT_CONFIG = Path("/etc/jupyter")
#: The exchange folder: anyone may add entries, nobody may remove another's (the sticky bit).
EXCHANGE_MODE = 0o1777
#: The folder below the configuration that students' servers read first: nbgrader's instructor panels off.
STUDENT_CONFIG = "student"


def setup(config: Path = DEFAULT_CONFIG, exchange: Path = DEFAULT_EXCHANGE) -> list[Path]:
    """Make the exchange folder and write the configuration both sides read; returns what was written.

    ``config/nbgrader_config.py`` names the course and the exchange (and the Validate button's time
    limit); ``config/student/labconfig/page_config.json`` switches nbgrader's instructor panels off.
    """
    exchange.mkdir(parents=True, exist_ok=True)
    exchange.chmod(EXCHANGE_MODE)
    written = config / "nbgrader_config.py"
    write_config(written, student_config(exchange), "`cvcourse classroom` (autograder/classroom.py)")
    write_page_config(config / STUDENT_CONFIG)
    for folder in (config, config / STUDENT_CONFIG, config / STUDENT_CONFIG / "labconfig"):
        folder.chmod(0o755)  # read by every account's server
    return [exchange, written, config / STUDENT_CONFIG / "labconfig" / "page_config.json"]


def config_path(config: Path, user: str, instructors: set[str]) -> str:
    """``JUPYTER_CONFIG_PATH`` for ``user``'s server: ``config``, after ``config/student`` for a student."""
    folders = [config] if user in instructors else [config / STUDENT_CONFIG, config]
    return os.pathsep.join(str(f) for f in folders)
