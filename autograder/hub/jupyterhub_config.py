"""JupyterHub for a classroom of the course: ``jupyterhub -f autograder/hub/jupyterhub_config.py``, as root.

Run by the course's environment (JupyterHub is one of its packages), after ``cvcourse classroom`` made the
exchange and the configuration (autograder/classroom.py) and ``npm ci`` in this folder installed the proxy.
Everyone logs in with their account on the machine (PAM, JupyterHub's default) and gets JupyterLab, run as
that account by the same environment. The settings come from the environment; the defaults suit a hub
behind a TLS-terminating web server on the same machine:

=============================  ================================  =========================================
variable                       default                           what
=============================  ================================  =========================================
``CVCOURSE_HUB_URL``           ``http://127.0.0.1:8000``         where the proxy listens for people
``CVCOURSE_HUB_API_URL``       ``http://127.0.0.1:8081``         where the hub listens (loopback only)
``CVCOURSE_HUB_PROXY_API``     ``http://127.0.0.1:8001``         the proxy's own API (loopback only)
``CVCOURSE_HUB_STATE``         ``/srv/jupyterhub``               the hub's database, cookie secret, pid
``CVCOURSE_HUB_STUDENTS``      (none)                            comma-separated accounts that may log in
``CVCOURSE_HUB_INSTRUCTORS``   (none)                            the same, with the hub's admin rights
``CVCOURSE_JUPYTER_CONFIG``    ``/etc/jupyter``                  what ``cvcourse classroom --config`` wrote
=============================  ================================  =========================================
"""

import os
import shutil
import sys
from pathlib import Path

from autograder.classroom import DEFAULT_CONFIG, config_path

c = get_config()  # noqa: F821 - JupyterHub's configuration loader provides it
setting = os.environ.get

c.JupyterHub.bind_url = setting("CVCOURSE_HUB_URL", "http://127.0.0.1:8000")
c.JupyterHub.hub_bind_url = setting("CVCOURSE_HUB_API_URL", "http://127.0.0.1:8081")
c.ConfigurableHTTPProxy.api_url = setting("CVCOURSE_HUB_PROXY_API", "http://127.0.0.1:8001")
proxy = Path(__file__).resolve().parent / "node_modules" / ".bin" / "configurable-http-proxy"
c.ConfigurableHTTPProxy.command = [str(proxy) if proxy.exists() else shutil.which("configurable-http-proxy")
                                   or "configurable-http-proxy"]

state = Path(setting("CVCOURSE_HUB_STATE", "/srv/jupyterhub"))
state.mkdir(mode=0o700, parents=True, exist_ok=True)
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.pid_file = str(state / "jupyterhub-proxy.pid")

students = {u for u in setting("CVCOURSE_HUB_STUDENTS", "").split(",") if u}
instructors = {u for u in setting("CVCOURSE_HUB_INSTRUCTORS", "").split(",") if u}
c.Authenticator.allowed_users = students | instructors
c.Authenticator.admin_users = instructors

# each person's server: JupyterLab from this environment, as their own account, in their home folder
c.Spawner.cmd = [str(Path(sys.executable).with_name("jupyterhub-singleuser"))]
c.Spawner.default_url = "/lab"
config = Path(setting("CVCOURSE_JUPYTER_CONFIG", str(DEFAULT_CONFIG)))
c.Spawner.environment = {"JUPYTER_CONFIG_PATH": lambda spawner: config_path(config, spawner.user.name, instructors)}
# a server that imports torch and JupyterLab on a busy machine takes a while to answer
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 180
