"""The cvcourse command line: release --check catches stale notebooks, doctor reports, samples."""

from __future__ import annotations

import json
import os
import shutil
import sys

import nbformat
import pytest

from autograder import cli, release
from autograder.course import NOTEBOOKS
from conftest import ASSIGNMENTS


def test_release_check_names_stale_files(tmp_path, monkeypatch, capsys):
    name = ASSIGNMENTS[0]
    copy = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS, copy)
    monkeypatch.setattr(release, "NOTEBOOKS", copy)
    assert cli.main(["release", "--check", name]) == 0
    nb = nbformat.read(copy / name / f"{name}.ipynb", as_version=4)
    nb.cells[0].source += "\nedited by hand"
    nbformat.write(nb, copy / name / f"{name}.ipynb")
    (copy / name / "stray.txt").write_text("x")
    assert cli.main(["release", "--check", name]) == 1
    out = capsys.readouterr().out
    assert f"notebooks/{name}/{name}.ipynb" in out and f"notebooks/{name}/stray.txt" in out


def test_unknown_assignment_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["release", "--check", "99_nothing"])
    assert exc.value.code == 2 and "unknown assignment" in capsys.readouterr().err


def test_samples_command_writes_three_students(tmp_path, capsys):
    assert cli.main(["samples", str(tmp_path), "--assignment", ASSIGNMENTS[0]]) == 0
    assert {p.name for p in tmp_path.iterdir()} == {"perfect", "blank", "partial"}
    assert "partial: expected to lose" in capsys.readouterr().out


def test_doctor_reports_versions_device_and_weights(capsys):
    assert cli.main(["doctor"]) == 0
    out = capsys.readouterr().out
    for part in ("torch", "torchvision C ops import and run", "device", "weights", "extensions", "sandbox      bubblewrap works"):
        assert part in out


# -- cvcourse lab --------------------------------------------------------------------------------------
def _lab_call(monkeypatch, tmp_path, argv: list[str], euid: int) -> dict:
    """Run ``cvcourse lab`` up to the exec and return what it would have run."""
    seen = {}

    def fake_execve(path, args, env):
        seen.update(path=path, args=args, env=env, cwd=os.getcwd())
        raise SystemExit(0)
    monkeypatch.setattr(os, "execve", fake_execve)
    monkeypatch.setattr(os, "geteuid", lambda: euid)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit):
        cli.main(["lab", "--home", str(tmp_path / "home"), *argv])
    return seen


def test_lab_starts_jupyterlab_on_notebooks_on_loopback_with_course_config(monkeypatch, tmp_path):
    seen = _lab_call(monkeypatch, tmp_path, ["--port", "8765", "--ServerApp.token=x"], euid=0)
    args = seen["args"]
    assert seen["path"] == args[0] == sys.executable and args[1:4] == ["-m", "jupyter", "lab"]
    assert seen["cwd"] == str(NOTEBOOKS)
    assert f"--ServerApp.root_dir={NOTEBOOKS}" in args and "--ServerApp.ip=127.0.0.1" in args
    assert "--ServerApp.port=8765" in args and "--allow-root" in args
    assert args[-1] == "--ServerApp.token=x"  # extra arguments come last and win
    config = tmp_path / "home" / "config"
    assert seen["env"]["JUPYTER_CONFIG_PATH"].split(os.pathsep)[0] == str(config)
    page = json.loads((config / "labconfig" / "page_config.json").read_text())
    assert page["disabledExtensions"]["@jupyter/nbgrader:formgrader"] is True


def test_lab_adds_allow_root_only_for_root(monkeypatch, tmp_path):
    seen = _lab_call(monkeypatch, tmp_path, [], euid=1000)
    assert "--allow-root" not in seen["args"] and not any(a.startswith("--ServerApp.port") for a in seen["args"])


def test_lab_nbgrader_config_gives_the_student_panels_a_course_and_an_exchange(monkeypatch, tmp_path):
    """nbgrader's own Assignment list and config loading, as Lab's panels call them, find no fault."""
    from jupyter_core.paths import jupyter_config_path
    from nbgrader.apps import NbGrader
    from nbgrader.server_extensions.assignment_list.handlers import AssignmentList

    from autograder import lab
    from autograder.course import COURSE_ID
    from autograder.sandbox import Limits

    home = lab.prepare(tmp_path / "home")
    monkeypatch.setattr(os, "environ", lab.environment(home))
    root = tmp_path / "notebooks"
    root.mkdir()
    monkeypatch.chdir(root)
    app = NbGrader()
    app.config_file_paths.append(jupyter_config_path())
    warnings = []
    monkeypatch.setattr(app.log, "warning", lambda msg, *a: warnings.append(msg % a if a else msg))
    app.load_config_file()
    assert warnings == []  # no "No nbgrader_config.py file found"
    assert app.config.CourseDirectory.course_id == COURSE_ID
    assert app.config.Exchange.root == str(home.exchange) and home.exchange.is_dir()
    assert app.config.Execute.timeout == Limits.from_env().cell_timeout

    manager = AssignmentList()
    manager.root_dir = str(root)
    assert manager.list_assignments(course_id=COURSE_ID) == {"success": True, "value": []}
    assert manager.list_courses() == {"success": True, "value": []}
    # an instructor's release into this exchange shows in the student's list
    (home.exchange / COURSE_ID / "outbound" / "01_conv_pool").mkdir(parents=True)
    (home.exchange / COURSE_ID / "outbound" / "01_conv_pool" / "01_conv_pool.ipynb").write_text("{}")
    listed = manager.list_assignments(course_id=COURSE_ID)
    assert listed["success"] and [a["assignment_id"] for a in listed["value"]] == ["01_conv_pool"]
