"""Intake: from a folder or zip of submissions to one notebook per student and assignment.

Submissions are laid out ``<student>/<assignment>/*.ipynb``. Honest accidents are repaired rather
than failed: a notebook under another name (``01_conv_pool (1).ipynb``) is taken as the assignment's
notebook, and a cell duplicated in JupyterLab (which copies its nbgrader id) keeps the id only on its
last copy. What cannot be read is reported with a reason.
"""

from __future__ import annotations

import re
import shutil
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import nbformat

#: Largest notebook taken in (a course notebook with its figures is a few MB).
MAX_NOTEBOOK_BYTES = 64 << 20
#: What nbgrader's exchange leaves beside a collected notebook, taken in with it: when it was handed in,
#: and the secret that names its feedback in the exchange (``nbgrader release_feedback``, ``fetch_feedback``).
EXCHANGE_RECORDS = ("timestamp.txt", "submission_secret.txt")
#: Largest such record taken in (nbgrader writes a few dozen bytes).
EXCHANGE_RECORD_BYTES = 256
#: Most a zip of submissions may unpack to, and hold (a member larger than a notebook may be is cut short).
MAX_ARCHIVE_BYTES, MAX_ARCHIVE_MEMBERS = 8 << 30, 100_000
_STUDENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")


@dataclass(frozen=True)
class Submission:
    """One student's notebook for one assignment; ``notebook`` is None when nothing was handed in."""

    student: str
    assignment: str
    notebook: Path | None


def unpack(submissions: Path, workdir: Path) -> Path:
    """A folder of ``<student>/<assignment>/*.ipynb``: ``submissions`` itself, or a zip extracted."""
    if submissions.is_dir():
        return submissions
    if not zipfile.is_zipfile(submissions):
        raise ValueError(f"{submissions} is neither a folder nor a zip file")
    dest = workdir / "unzipped"
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    with zipfile.ZipFile(submissions) as zf:
        members = zf.infolist()
        for member in members:
            if not (dest / member.filename).resolve().is_relative_to(dest.resolve()):
                raise ValueError(f"{submissions}: unsafe path in archive: {member.filename}")
        size = sum(min(m.file_size, MAX_NOTEBOOK_BYTES + 1) for m in members)
        if len(members) > MAX_ARCHIVE_MEMBERS or size > MAX_ARCHIVE_BYTES:
            raise ValueError(f"{submissions}: {len(members)} files of {size >> 20} MiB in all, more than a class "
                             f"hands in ({MAX_ARCHIVE_MEMBERS} files, {MAX_ARCHIVE_BYTES >> 30} GiB)")
        for member in members:
            _extract(zf, member, dest / member.filename)
    # a zip of one folder that holds the student folders: descend into it
    entries = [p for p in dest.iterdir() if not p.name.startswith(("_", "."))]
    if len(entries) == 1 and entries[0].is_dir() and not _is_student(entries[0]):
        return entries[0]
    return dest


def _extract(zf: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path) -> None:
    """Write one member, at most one byte more than :data:`MAX_NOTEBOOK_BYTES` of it (so that a larger one
    is refused as too large, not read whole); a damaged member is left as far as it could be read."""
    if member.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as out:
        try:
            with zf.open(member) as data:
                left = MAX_NOTEBOOK_BYTES + 1
                while left > 0 and (chunk := data.read(min(left, 1 << 20))):
                    out.write(chunk)
                    left -= len(chunk)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError):  # not the disk's
            pass  # what the student's notebook is now (part of it, or nothing) fails to read, alone


def take_collected(folder: Path, dest: Path) -> Path:
    """Copy the submissions in ``folder`` (a course folder's ``submitted/``, where ``nbgrader collect`` puts
    them) to ``dest`` and return it: grading rewrites the course folder, the copy keeps what was handed in.

    Each ``<student>/<assignment>/`` found replaces its earlier copy; symbolic links are copied as links
    (and then not taken in).
    """
    for assignment in sorted(p for p in folder.glob("*/*") if p.is_dir() and not p.is_symlink()):
        target = dest / assignment.relative_to(folder)
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(assignment, target, symlinks=True)
    dest.mkdir(parents=True, exist_ok=True)
    return dest


def exchange_records(folder: Path) -> dict[str, bytes]:
    """The :data:`EXCHANGE_RECORDS` in ``folder`` that are small plain files (links left out), as bytes."""
    found = {}
    for name in EXCHANGE_RECORDS:
        path = folder / name
        if not path.is_symlink() and path.is_file() and path.stat().st_size <= EXCHANGE_RECORD_BYTES:
            found[name] = path.read_bytes()
    return found


def take_exchange_records(source: Path, dest: Path) -> None:
    """Copy :func:`exchange_records` from ``source`` to ``dest``, those that are plausible, with a stand-in
    for each one that is not.

    The student's own process wrote them (``nbgrader submit``): a timestamp that does not parse, or a record
    with characters other than printable ASCII, is replaced, since ``nbgrader release_feedback`` stops at the
    first feedback folder without both and would return nobody's after it: the time the notebook was last
    written here, and a fresh random secret (the feedback is then released under a name that student cannot
    find; it was their process that wrote the record; a kept result of theirs is not reused, as the stand-in
    differs at every run). A folder with neither record did not come through the exchange and gets none.
    """
    import secrets
    from datetime import datetime, timezone

    from nbgrader.utils import parse_utc

    found = exchange_records(source)
    if not found:
        return
    records = {}
    for name, data in found.items():
        text = data.decode("ascii", errors="replace").strip()
        if not text.isprintable() or "\ufffd" in text:
            continue
        if name == "timestamp.txt":
            try:
                parse_utc(text)
            except Exception:  # noqa: BLE001 - dateutil raises several kinds
                continue
        records[name] = text
    if "timestamp.txt" not in records:
        written = max((p.stat().st_mtime for p in source.glob("*.ipynb")), default=datetime.now().timestamp())
        records["timestamp.txt"] = datetime.fromtimestamp(written, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
    records.setdefault("submission_secret.txt", secrets.token_hex(64))
    for name, text in records.items():
        (dest / name).write_text(text)


def _is_student(folder: Path) -> bool:
    """A student folder holds assignment folders (``NN_topic``)."""
    return any(p.is_dir() and p.name[:2].isdigit() for p in folder.iterdir())


def _pick(folder: Path, assignment: str) -> Path | None:
    """The assignment's notebook in ``folder``: its own name, else the only notebook, else the newest."""
    if not folder.is_dir() or folder.is_symlink():
        return None
    notebooks = sorted(p for p in folder.glob("*.ipynb") if p.is_file() and not p.is_symlink())
    exact = folder / f"{assignment}.ipynb"
    if exact in notebooks:
        return exact
    return max(notebooks, key=lambda p: p.stat().st_mtime) if notebooks else None


def find(folder: Path, names: list[str]) -> list[Submission]:
    """Every (student, assignment) pair of the batch, sorted; students are the folders of ``folder``.

    Raises:
        ValueError: if a folder name cannot be a student id (it would become a path and a CSV field).
    """
    students = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    bad = [s for s in students if not _STUDENT.match(s)]
    if bad:
        raise ValueError(f"not a usable student id: {', '.join(map(repr, bad))} (letters, digits, ._@+-)")
    return [Submission(s, name, _pick(folder / s / name, name)) for s in students for name in names]


def normalise(source: Path, dest: Path) -> None:
    """Write ``source`` to ``dest`` with duplicated nbgrader ids kept only on their last cell.

    Raises:
        ValueError: the notebook is too large to take in.
        nbformat.reader.NotJSONError, nbformat.ValidationError: the notebook cannot be read.
    """
    if source.stat().st_size > MAX_NOTEBOOK_BYTES:
        raise ValueError(f"the notebook is larger than {MAX_NOTEBOOK_BYTES >> 20} MiB")
    nb = nbformat.read(source, as_version=4)
    seen: set[str] = set()
    for cell in reversed(nb.cells):
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id is None:
            continue
        if grade_id in seen:
            del cell.metadata["nbgrader"]
        seen.add(grade_id)
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)
