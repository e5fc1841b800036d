"""``cvcourse release``: regenerate ``notebooks/`` (student versions) from ``solutions/``."""

from __future__ import annotations

import filecmp
import shutil
import tempfile
from pathlib import Path

from .course import NOTEBOOKS, prepare_course


def _generate(names: list[str], workdir: Path) -> Path:
    prepare_course(workdir / "course", names)
    return workdir / "course" / "release"


def release(names: list[str]) -> list[Path]:
    """Write ``notebooks/<name>/`` for each assignment; returns the folders written."""
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        released = _generate(names, Path(tmp))
        for name in names:
            dest = NOTEBOOKS / name
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(released / name, dest)
            written.append(dest)
    return written


def out_of_date(names: list[str]) -> list[str]:
    """Paths under ``notebooks/`` that differ from a fresh release (missing, extra or changed)."""
    stale = []
    with tempfile.TemporaryDirectory() as tmp:
        released = _generate(names, Path(tmp))
        for name in names:
            fresh, committed = released / name, NOTEBOOKS / name
            fresh_files = {p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file()}
            committed_files = ({p.relative_to(committed) for p in committed.rglob("*") if p.is_file()
                                and "figures" not in p.parts and ".ipynb_checkpoints" not in p.parts}
                               if committed.exists() else set())
            for rel in sorted(fresh_files | committed_files):
                a, b = fresh / rel, committed / rel
                if not (a.exists() and b.exists() and filecmp.cmp(a, b, shallow=False)):
                    stale.append(str(Path("notebooks") / name / rel))
    return stale
