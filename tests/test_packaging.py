"""What a student installs holds no hidden references or solutions, and the course library never
reaches for the autograder."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile

from conftest import REPO


def test_wheel_holds_no_hidden_references_or_solutions(tmp_path):
    src = tmp_path / "src"  # build from a copy: the build leaves folders behind
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".venv", ".git", "work", "build", "*.egg-info",
                                                              "__pycache__", "notebooks", "solutions"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                    "-w", str(tmp_path / "dist"), str(src)], check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("course_utils/") for n in names)
    assert any(n.endswith("weights/shapes_cnn.pt") for n in names)  # package data does travel
    leaked = [n for n in names if "references" in n or n.endswith(".ipynb") or "hidden" in n.lower()]
    assert not leaked


def test_course_utils_never_imports_the_autograder():
    for path in (REPO / "course_utils").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] == "autograder" for n in names), path
        assert "autograder" not in path.read_text().replace("autograder/", ""), path
