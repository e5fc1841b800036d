"""The cvcourse command line: release --check catches stale notebooks, doctor reports, samples."""

from __future__ import annotations

import shutil

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
