"""The course in a JupyterHub classroom, end to end on this machine.

JupyterHub (from PyPI) with configurable-http-proxy (from npm, ``autograder/hub``) on loopback, and three
real accounts made for the test (an instructor and two students; removed afterwards) who log in with
their passwords (PAM). The instructor works with nbgrader's own commands in a shell; the students work in
their JupyterLab through the hub, with the HTTP requests that its Assignment list makes (list, fetch,
submit, fetch feedback) and the save of a notebook. In between, ``cvcourse grade`` grades what
``nbgrader collect`` brought in, and ``nbgrader release_feedback`` returns the feedback.

Needs root (accounts, and a hub that starts servers as them), ``useradd``, a Python that every account may
run, and the proxy (``npm ci --prefix autograder/hub``, which ``.ci/run`` does); skipped, with the reason,
otherwise. For its duration, the folders above the checkout and its environment that other accounts could
not pass through (a clone in a private temporary folder) are made passable, not readable.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

from autograder import assignments as specs
from autograder.classroom import config_path
from autograder.course import NOTEBOOKS, REPO, hidden_reference_file
from autograder.samples import filled

NAME = "01_conv_pool"
COURSE = "cvcourse"
INSTRUCTOR, STUDENTS = "cvc-teacher", ("cvc-ada", "cvc-alan")
#: What each student hands in: ada the sample solution, alan the sample with the assignment's bugs.
WORK = {"cvc-ada": (), "cvc-alan": tuple(specs.bugs(NAME))}
PROXY = REPO / "autograder" / "hub" / "node_modules" / ".bin" / "configurable-http-proxy"
HUB_CONFIG = REPO / "autograder" / "hub" / "jupyterhub_config.py"


def _python_for_everyone() -> Path | None:
    """An interpreter of this Python version that every account may run (this one may sit under /root)."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (Path(sys.base_prefix) / "bin" / version, Path("/usr/bin") / version,
                      Path("/usr/local/bin") / version):
        path = candidate.resolve()
        if path.is_file() and all(p.stat().st_mode & 0o001 for p in [path, *path.parents]):
            return candidate
    return None


def _why_not() -> str | None:
    if os.name != "posix" or os.geteuid() != 0:
        return "needs root: accounts are made and the hub starts servers as them"
    if not all(shutil.which(tool) for tool in ("useradd", "userdel", "chpasswd", "runuser")):
        return "needs useradd, userdel, chpasswd and runuser"
    if not PROXY.exists():
        return "needs configurable-http-proxy: run `npm ci --prefix autograder/hub` (.ci/run does)"
    if _python_for_everyone() is None:
        return f"needs a python{sys.version_info.major}.{sys.version_info.minor} that every account may run"
    return None


pytestmark = pytest.mark.skipif(_why_not() is not None, reason=_why_not() or "")


def _shared_environment(dest: Path) -> Path:
    """This test run's environment under ``dest``, runnable by every account; its ``bin`` folder.

    A venv of :func:`_python_for_everyone` whose packages, configuration and data are those of this
    environment (links), with this environment's commands written again to start with its interpreter. On a
    real hub the course's environment is installed where every account can run it in the first place.
    """
    subprocess.run([str(_python_for_everyone()), "-m", "venv", "--without-pip", str(dest)], check=True)
    site = Path(f"lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages")
    shutil.rmtree(dest / site)
    (dest / site).symlink_to(Path(sys.prefix) / site)
    for folder in ("etc", "share"):
        (dest / folder).symlink_to(Path(sys.prefix) / folder)
    own = Path(sys.prefix) / "bin"
    for script in own.iterdir():
        target = dest / "bin" / script.name
        if script.is_symlink() or target.exists() or not script.is_file():
            continue
        lines = script.read_bytes().split(b"\n", 1)
        if len(lines) == 2 and lines[0].startswith(f"#!{own}/python".encode()):
            target.write_bytes(f"#!{dest / 'bin' / 'python'}\n".encode() + lines[1])
            target.chmod(0o755)
    return dest / "bin"


@contextlib.contextmanager
def _reachable_by_everyone(*paths: Path):
    """Within the block, every account may reach ``paths`` (o+x, not o+r, on each folder above them that
    lacks it: a checkout in a private temporary folder, say); the folders' modes are put back after."""
    changed: dict[Path, int] = {}
    for path in paths:
        for folder in [path, *path.parents]:
            mode = stat.S_IMODE(folder.stat().st_mode)
            if not mode & 0o001 and folder not in changed:
                changed[folder] = mode
                folder.chmod(mode | 0o001)
    try:
        yield
    finally:
        for folder, mode in changed.items():
            folder.chmod(mode)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Classroom:
    """The machine's side of the test: accounts, the exchange, the instructor's shell, the hub."""

    def __init__(self, root: Path):
        self.root = root
        self.exchange, self.config = root / "exchange", root / "jupyter-config"
        self.bin = _shared_environment(root / "env")
        self.passwords = {u: secrets.token_urlsafe(12) for u in (INSTRUCTOR, *STUDENTS)}
        self.url = f"http://127.0.0.1:{_free_port()}"
        self.hub: subprocess.Popen | None = None

    def home(self, user: str) -> Path:
        return self.root / "home" / user

    def add_accounts(self) -> None:
        (self.root / "home").mkdir(mode=0o755)
        for user, password in self.passwords.items():
            self.remove_account(user)
            subprocess.run(["useradd", "--create-home", "--home-dir", str(self.home(user)), "--shell", "/bin/sh",
                            user], check=True)
            self.home(user).chmod(0o700)  # nobody reads another's home: the instructor's holds the gradebook
            subprocess.run(["chpasswd"], input=f"{user}:{password}\n", text=True, check=True)

    @staticmethod
    def remove_account(user: str) -> None:
        subprocess.run(["pkill", "-KILL", "-u", user], capture_output=True)
        subprocess.run(["userdel", user], capture_output=True)

    def shell(self, user: str, *argv: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
        """Run ``argv`` as ``user``, as in a terminal of their JupyterLab (their home, the course's commands)."""
        env = [f"HOME={self.home(user)}", f"USER={user}", f"PATH={self.bin}:/usr/bin:/bin",
               f"JUPYTER_CONFIG_PATH={config_path(self.config, user, {INSTRUCTOR})}", "PYTHONUNBUFFERED=1"]
        done = subprocess.run(["runuser", "-u", user, "--", "env", "-i", *env, *argv], cwd=cwd or self.home(user),
                              capture_output=True, text=True, timeout=900)
        if check and done.returncode != 0:
            raise AssertionError(f"{user}$ {' '.join(argv)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done

    def start_hub(self) -> None:
        state = self.root / "hub"
        state.mkdir(mode=0o700)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "JPY_"))}
        env.update(PATH=f"{self.bin}:{env.get('PATH', '/usr/bin:/bin')}", CVCOURSE_HUB_URL=self.url,
                   CVCOURSE_HUB_API_URL=f"http://127.0.0.1:{_free_port()}",
                   CVCOURSE_HUB_PROXY_API=f"http://127.0.0.1:{_free_port()}", CVCOURSE_HUB_STATE=str(state),
                   CVCOURSE_HUB_STUDENTS=",".join(STUDENTS), CVCOURSE_HUB_INSTRUCTORS=INSTRUCTOR,
                   CVCOURSE_JUPYTER_CONFIG=str(self.config))
        log = (state / "hub.log").open("w")
        self.hub = subprocess.Popen([str(self.bin / "jupyterhub"), "-f", str(HUB_CONFIG)], cwd=state, env=env,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        _wait(lambda: _get(f"{self.url}/hub/health") == 200, 90, "the hub to answer", self.hub_log)

    def hub_log(self) -> str:
        path = self.root / "hub" / "hub.log"
        return path.read_text()[-4000:] if path.exists() else ""

    def stop(self) -> None:
        if self.hub is not None and self.hub.poll() is None:
            self.hub.send_signal(signal.SIGTERM)  # the hub stops the servers it started, then the proxy
            try:
                self.hub.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.hub.pid, signal.SIGKILL)
        for user in self.passwords:
            self.remove_account(user)


def _get(url: str) -> int | None:
    import requests

    try:
        return requests.get(url, timeout=5).status_code
    except requests.RequestException:
        return None


def _wait(ready, seconds: float, what: str, log=lambda: "") -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds} s for {what}\n{log()}")
        time.sleep(1)


class Student:
    """A student's browser: logged in to the hub, in their JupyterLab, using its Assignment list."""

    def __init__(self, room: Classroom, user: str):
        import requests

        self.room, self.user, self.web = room, user, requests.Session()
        self.server = f"{room.url}/user/{user}"
        self.web.get(f"{room.url}/hub/login", timeout=30)
        answer = self.web.post(f"{room.url}/hub/login", timeout=60, data={
            "username": user, "password": room.passwords[user], "_xsrf": self.web.cookies.get("_xsrf", path="/hub/")})
        assert answer.ok and "jupyterhub-session-id" in self.web.cookies, f"{user} could not log in: {answer.status_code}"
        # the hub starts the server; opening Lab goes through the hub's OAuth, as a browser does
        _wait(self._in_lab, 240, f"{user}'s JupyterLab", room.hub_log)

    def _in_lab(self) -> bool:
        page = self.web.get(f"{self.server}/lab", timeout=30)
        return page.status_code == 200 and page.url.startswith(f"{self.server}/lab")

    def _post(self, action: str) -> list[dict]:
        answer = self.web.post(f"{self.server}/assignments/{action}", timeout=300,
                               data={"assignment_id": NAME, "course_id": COURSE},
                               headers={"X-XSRFToken": self.web.cookies.get("_xsrf", path=f"/user/{self.user}/")})
        answer.raise_for_status()
        reply = answer.json()
        assert reply["success"], f"{self.user}: {action} failed: {reply['value']}"
        return reply["value"]

    def assignments(self) -> list[dict]:
        reply = self.web.get(f"{self.server}/assignments", params={"course_id": COURSE}, timeout=60).json()
        assert reply["success"], reply["value"]
        return reply["value"]

    def fetch(self) -> list[dict]:
        return self._post("fetch")

    def submit(self) -> list[dict]:
        return self._post("submit")

    def fetch_feedback(self) -> list[dict]:
        return self._post("fetch_feedback")

    def save(self, path: str, nb) -> None:
        answer = self.web.put(f"{self.server}/api/contents/{path}", timeout=60,
                              json={"type": "notebook", "format": "json", "content": nb},
                              headers={"X-XSRFToken": self.web.cookies.get("_xsrf", path=f"/user/{self.user}/")})
        answer.raise_for_status()

    def read(self, path: str) -> str:
        answer = self.web.get(f"{self.server}/api/contents/{path}", params={"type": "file", "format": "text"},
                              timeout=60)
        answer.raise_for_status()
        return answer.json()["content"]


@pytest.fixture(scope="module")
def classroom():
    """The whole term for one assignment, from release to feedback; what each step left, for the tests."""
    root = Path(tempfile.mkdtemp(prefix="cvcourse-classroom-"))
    root.chmod(0o755)
    room = Classroom(root)
    seen: dict = {"room": room}
    stack = contextlib.ExitStack()
    try:
        stack.enter_context(_reachable_by_everyone(REPO, Path(sys.prefix)))  # the course and its environment
        room.add_accounts()
        subprocess.run([str(room.bin / "cvcourse"), "classroom", "--config", str(room.config), "--exchange",
                        str(room.exchange)], check=True, capture_output=True)
        course = room.home(INSTRUCTOR) / "cv" / "course"
        room.shell(INSTRUCTOR, "cvcourse", "course", "--out", str(course.parent), NAME)
        room.shell(INSTRUCTOR, "nbgrader", "release_assignment", NAME, cwd=course)
        room.start_hub()

        students = {user: Student(room, user) for user in STUDENTS}
        for user, student in students.items():
            seen.setdefault("listed", {})[user] = student.assignments()
            fetched = next(a for a in student.fetch() if a["assignment_id"] == NAME)
            seen.setdefault("fetched", {})[user] = (fetched["status"], _names(room.home(user) / fetched["path"]))
            notebook = next(nb["path"] for nb in fetched["notebooks"])
            student.save(notebook, filled(NAME, list(WORK[user])))
            seen.setdefault("submitted", {})[user] = student.submit()
        seen["inbound listing"] = {user: room.shell(user, "ls", str(room.exchange / COURSE / "inbound"), check=False)
                                   for user in STUDENTS}
        seen["reads gradebook"] = room.shell(STUDENTS[0], "cat", str(course / "gradebook.db"), check=False)

        room.shell(INSTRUCTOR, "nbgrader", "collect", NAME, cwd=course)
        seen["grade"] = room.shell(INSTRUCTOR, "cvcourse", "grade", str(course / "submitted"), "--out",
                                   str(course.parent), "--assignment", NAME, "--workers", "1")
        seen["grades"] = (course.parent / "grades.csv").read_text()
        seen["release feedback"] = room.shell(INSTRUCTOR, "nbgrader", "release_feedback", NAME, cwd=course)
        seen["feedback folder"] = sorted(str(p.relative_to(course)) for p in (course / "feedback").rglob("*"))
        for user, student in students.items():
            # the Assignment list's "Fetch Feedback": a feedback folder per submission, a page per notebook
            handed_in = [s for a in student.fetch_feedback() if a["assignment_id"] == NAME
                         and a["status"] == "submitted" for s in a["submissions"]]
            pages = [f"{s['local_feedback_path']}/{nb['notebook_id']}.html" for s in handed_in
                     if s["has_local_feedback"] for nb in s["notebooks"]]
            seen.setdefault("handed in", {})[user] = handed_in
            seen.setdefault("feedback", {})[user] = [student.read(page) for page in pages]
        # the pages' math: MathJax from the student's own server (the exchange returns the page alone)
        seen["mathjax"] = _get(f"{room.url}/user/{STUDENTS[0]}/static/jupyter_server_mathjax/MathJax.js")
        yield seen
    finally:
        room.stop()
        stack.close()
        shutil.rmtree(root, ignore_errors=True)


def test_students_fetch_the_released_assignment_through_the_hub(classroom):
    for user in STUDENTS:
        listed = {a["assignment_id"]: a["status"] for a in classroom["listed"][user]}
        assert listed == {NAME: "released"}
        assert classroom["fetched"][user] == ("fetched", _names(NOTEBOOKS / NAME))


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def test_what_students_get_is_the_released_notebook_and_nothing_hidden(classroom):
    room = classroom["room"]
    outbound = room.exchange / COURSE / "outbound" / NAME
    assert _names(outbound) == _names(NOTEBOOKS / NAME)  # what `cvcourse release` wrote to notebooks/
    for path in outbound.iterdir():
        if path.suffix == ".ipynb":
            cells = [c.source for c in nbformat.read(path, as_version=4).cells]
            assert cells == [c.source for c in nbformat.read(NOTEBOOKS / NAME / path.name, as_version=4).cells]
            assert not any("BEGIN HIDDEN TESTS" in c or "BEGIN SOLUTION" in c for c in cells)
        else:
            assert path.read_bytes() == (NOTEBOOKS / NAME / path.name).read_bytes()
        assert path.read_bytes() != hidden_reference_file(NAME).read_bytes()
    # a student can neither list the others' submissions nor read the instructor's gradebook
    for user in STUDENTS:
        assert classroom["inbound listing"][user].returncode != 0
    assert classroom["reads gradebook"].returncode != 0
    assert "Permission denied" in classroom["reads gradebook"].stderr


def test_what_was_collected_is_graded(classroom):
    import csv
    import io

    for user in STUDENTS:  # the Assignment list after Submit: the submission, under the student's name
        handed_in = [s for a in classroom["submitted"][user] if a["status"] == "submitted" for s in a["submissions"]]
        assert [s["student_id"] for s in handed_in] == [user]
    rows = {r["student"]: r for r in csv.DictReader(io.StringIO(classroom["grades"])) if r["assignment"] == NAME}
    points = {ex.name: ex.points for ex in specs.exercises(NAME)}
    lost = sum(points[n] for n in {bug.exercise for bug in WORK["cvc-alan"]})
    assert {u: (rows[u]["status"], float(rows[u]["auto_score"])) for u in STUDENTS} == {
        "cvc-ada": ("graded", sum(points.values())), "cvc-alan": ("graded", sum(points.values()) - lost)}, \
        classroom["grade"].stdout


def test_each_student_gets_their_own_feedback_back(classroom):
    import re

    points = {ex.name: ex.points for ex in specs.exercises(NAME)}
    for user in STUDENTS:
        pages = classroom["feedback"][user]
        assert len(pages) == 1, (f"{user} got {len(pages)} feedback pages; {classroom['handed in'][user]}\n"
                                 f"{classroom['feedback folder']}\n{classroom['release feedback'].stderr}")
        earned = sum(points.values()) - sum(points[bug.exercise] for bug in WORK[user])
        # nbgrader's summary line: automatic points earned (nothing graded by hand yet) of the total
        assert float(re.search(r"Score: ([0-9.]+) / ", pages[0]).group(1)) == earned
        assert "BEGIN HIDDEN TESTS" not in pages[0] and "jupyter_server_mathjax/MathJax.js" in pages[0]
    assert classroom["mathjax"] == 200
