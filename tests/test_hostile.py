"""A class that cheats: every attack on the grader is a submission, graded in one batch beside honest
students, two at a time, with the score it must get; hashes show that nothing outside each sandbox changed.

The attacks read hidden references, forge records, patch the checker, read classmates' work, write
to the gradebook, the cases file, the feedback, the source tree and site-packages, start processes
that try to outlive grading, read the grader's environment, open the network, allocate without
limit, signal the grader, ignore interrupts, leak hidden inputs (from the test cell or any other),
plant scripts in the feedback (in answers, in image metadata, in markdown outputs), use a forbidden call
outside the answer cell or through eval, change the checks' code, replace a test cell's records from a
later cell, and send a malformed message to pass for the machine's failure. Honest accidents (a duplicated cell, a renamed notebook, a deleted
test cell) and an honest comparison with the forbidden library call keep full marks.
"""

from __future__ import annotations

import csv
import hashlib
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest

from autograder import assignments as specs
from autograder.course import REFERENCES
from autograder.grade import grade
from autograder.notebook_run import environment
from autograder.samples import filled

from conftest import REPO
from submissions import nbgrader_meta, prepend, released

NAME = "01_conv_pool"
POINTS = {ex.name: ex.points for ex in specs.exercises(NAME)}
FULL = sum(POINTS.values())
SECRET = "grader-secret-7f3a"


def _answer(nb, grade_id: str):
    return next(c for c in nb.cells if nbgrader_meta(c).get("grade_id") == grade_id)


def _append(nb, code: str):
    nb.cells.append(nbformat.v4.new_code_cell(code))
    return nb


def _tree_hash(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*")
                                                     if p.is_file() and "__pycache__" not in p.parts)
        for p in files:
            digest.update(str(p).encode() + p.read_bytes())
    return digest.hexdigest()


class _Listener:
    """A TCP server on the grader's loopback that counts connections."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.5)
        self.port, self.connections, self.running = self.sock.getsockname()[1], 0, True
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
                self.connections += 1
                conn.close()
            except OSError:
                pass


def _attacks(out: Path, port: int) -> dict[str, tuple[nbformat.NotebookNode, float, str]]:
    """student -> (notebook, automatic score it must get, what it tries)."""
    hidden = REFERENCES / NAME / "hidden.pt"
    honest_nb = out.parent / "subs" / "a_honest" / NAME / f"{NAME}.ipynb"
    gradebook = out / "course" / "gradebook.db"
    cases = out / "cases" / NAME / "cases.pt"
    site = Path(sys.prefix)
    steal = (
        "import torch, course_utils.grading as g\n"
        f"ref = torch.load({str(hidden)!r}, weights_only=True)\n"  # raises inside the sandbox
        "def _run(self, name, fn, which):\n"
        "    cases = ref['exercises'][name]['cases']\n"
        "    self._record(name, which, [{'output': c['expected']} for c in cases])\n"
        "g.Checker._run = _run\n"
    )
    forge = (
        "from course_utils.grading import RECORD_MIME, encode_record\nfrom IPython.display import display\n"
        "import torch\ncases = torch.load('cases.pt', weights_only=True)['exercises']\n"
        "for name, spec in cases.items():\n"
        "    for which in ('visible', 'hidden'):\n"
        "        out = [{'output': c.get('expected', torch.zeros(1))} for c in spec[which]]\n"
        "        display({RECORD_MIME: encode_record(name, which, out)}, raw=True)\n"
    )
    forbidden = filled(NAME)
    _answer(forbidden, "conv_forward_naive").source = (
        "import torch.nn.functional as G\n"
        "def conv_forward_naive(x, w, b, stride=1, padding=0):\n"
        "    t = G.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), stride=stride,\n"
        "                 padding=padding)\n"
        "    return t.numpy()\n")
    duplicated = filled(NAME)
    idx = duplicated.cells.index(_answer(duplicated, "im2col"))
    duplicated.cells.insert(idx, nbformat.from_dict(dict(duplicated.cells[idx])))
    no_test = filled(NAME)
    no_test.cells.remove(_answer(no_test, "test_pool_forward"))
    xss = filled(NAME)
    manual = next(c for c in xss.cells if c.cell_type == "markdown" and nbgrader_meta(c).get("solution"))
    manual.source = ("<script>alert('xss')</script> <img src=x onerror=\"alert('img')\"> "
                     "[click](javascript:alert('link'))")
    # an instructor's cell with a table of <br> (kept as written when untouched) with one more line
    table = next(c for c in xss.cells if c.cell_type == "markdown" and "<br>" in c.source)
    table.source += "\n<script>alert('table')</script>"
    leaky = filled(NAME)  # right on the visible cases, then prints and raises with the hidden inputs
    alone = specs.bugs(NAME)[0].exercise  # no other exercise calls it
    spec = next(ex for ex in specs.exercises(NAME) if ex.name == alone)
    hidden_calls = (len(spec.visible), len(spec.visible) + len(spec.hidden))  # the test cell's hidden run
    _answer(leaky, alone).source += (
        f"\n_right, CALLS = {alone}, []\n"
        f"def {alone}(*args, **kwargs):\n"
        "    CALLS.append(1)\n"
        f"    if {hidden_calls[0]} < len(CALLS) <= {hidden_calls[1]}:\n"
        "        print('LEAK-' + 'ARGS', args, kwargs)\n"
        "        raise ValueError('LEAK-' + f'EXC {args} {kwargs}')\n"
        "    return _right(*args, **kwargs)\n")
    elsewhere = filled(NAME)  # the answer cell is honest; a cell of the student's own after it is not
    elsewhere.cells.insert(elsewhere.cells.index(_answer(elsewhere, "conv_forward_naive")) + 1, nbformat.v4.new_code_cell(
        "import torch.nn.functional as G\n"
        "def conv_forward_naive(x, w, b, stride=1, padding=0):\n"
        "    return G.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), stride=stride,\n"
        "                    padding=padding).numpy()\n"))
    compares = _append(filled(NAME), (  # honest: the library call in a cell that only compares
        "import numpy as np, torch, torch.nn.functional as F2\n"
        "x, w, b = np.random.rand(1, 2, 5, 5), np.random.rand(3, 2, 3, 3), np.random.rand(3)\n"
        "library = F2.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)).numpy()\n"
        "print('SAME AS THE LIBRARY', np.abs(conv_forward_naive(x, w, b) - library).max() < 1e-9)\n"))
    rf_bug = [b for b in specs.bugs(NAME) if b.exercise == "receptive_field"]
    updated = filled(NAME, rf_bug)  # a wrong answer whose test cell's records a later cell replaces
    _answer(updated, "receptive_field").source += (
        "\n_wrong, _shown = receptive_field, []\n"
        "def receptive_field(*args, **kwargs):\n"
        "    if not _shown:  # two outputs in the test cell, to be replaced later\n"
        "        from IPython.display import display\n"
        "        for slot in ('slot-v', 'slot-h'):\n"
        "            display({'text/plain': 'placeholder'}, raw=True, display_id=slot)\n"
        "        _shown.append(1)\n"
        "    return _wrong(*args, **kwargs)\n")
    _append(updated, (
        "import torch\nfrom IPython.display import update_display\n"
        "from course_utils.grading import RECORD_MIME, encode_record, run_case\n"
        "def right(kernel_sizes, strides=None):\n"
        "    field, jump = 1, 1\n"
        "    for k, s in zip(kernel_sizes, strides or [1] * len(kernel_sizes)):\n"
        "        field, jump = field + (k - 1) * jump, jump * s\n"
        "    return field\n"
        "spec = torch.load('cases.pt', weights_only=True)['exercises']['receptive_field']\n"
        "for which, slot in (('visible', 'slot-v'), ('hidden', 'slot-h')):\n"
        "    records = [run_case(right, c, spec['numpy'], torch.device('cpu')) for c in spec[which]]\n"
        "    update_display({RECORD_MIME: encode_record('receptive_field', which, records)}, raw=True,\n"
        "                   display_id=slot)\n"))
    hidden_library = filled(NAME)  # the library call planted on a module in a cell of its own, and eval
    answer = _answer(hidden_library, "conv_forward_naive")
    answer.source = ("def conv_forward_naive(x, w, b, stride=1, padding=0):\n"
                     "    return torch.mine(x, w, b, stride, padding)\n")
    hidden_library.cells.insert(hidden_library.cells.index(answer), nbformat.v4.new_code_cell(
        "import torch.nn.functional as G\n"
        "torch.mine = lambda x, w, b, s, p: G.conv2d(torch.from_numpy(x), torch.from_numpy(w),\n"
        "                                          torch.from_numpy(b), stride=s, padding=p).numpy()\n"))
    _answer(hidden_library, "pool_forward").source += "\n_unused = eval('1')\n"
    png = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4//8/AAX+Av6n1qRQAAAAAElFTkSuQmCC")
    return {
        "a_honest": (filled(NAME), FULL, "an honest student graded first"),
        "b_steal_hidden": (prepend(released(NAME), steal), 0, "loads hidden.pt and records its expected values"),
        "c_forge_records": (_append(released(NAME), forge), 0, "an extra last cell sends records for every exercise"),
        "d_copy": (prepend(filled(NAME, specs.bugs(NAME)),
                            f"import os\nprint('SEES-CLASSMATE', os.path.exists({str(honest_nb)!r}))\n"
                            "print('SEES-PROCS', sorted(os.listdir('/proc'))[:5])"),
                   FULL - sum(POINTS[b.exercise] for b in specs.bugs(NAME)), "reads a classmate's notebook"),
        "e_tamper": (prepend(filled(NAME), (
            "import sqlite3, pathlib\n"
            f"for target in [{str(gradebook)!r}, {str(cases)!r}, {str(REPO / 'README.md')!r},\n"
            f"               {str(out / 'feedback' / 'a_honest' / (NAME + '.html'))!r},\n"
            f"               {str(site / 'lib' / 'python3.11' / 'site-packages' / 'sitecustomize.py')!r},\n"
            f"               {str(REPO / 'course_utils' / 'evil.py')!r}]:\n"
            "    try:\n        pathlib.Path(target).write_text('owned')\n        print('WRO' + 'TE', target)\n"
            "    except OSError as exc:\n        print('BLOCKED', type(exc).__name__)\n"
            f"try:\n    sqlite3.connect({str(gradebook)!r}).execute('update grade set manual_score = 0')\n"
            "except Exception as exc:\n    print('BLOCKED', type(exc).__name__)\n"
            "pathlib.Path('course_utils').mkdir(exist_ok=True)\n"
            "pathlib.Path('course_utils/__init__.py').write_text('raise SystemExit')\n")), FULL,
            "writes the gradebook, the cases file, feedback, the source tree, site-packages; shadows course_utils"),
        "f_escape": (prepend(filled(NAME), (
            "import subprocess, sys\n"
            "subprocess.Popen([sys.executable, '-c', 'import time, pathlib; time.sleep(30); "
            "pathlib.Path(\"escaped\").write_text(\"x\")'], start_new_session=True)\n")), FULL,
            "a process in a new session that should outlive grading"),
        "g_environ_network": (prepend(filled(NAME), (
            "import os, socket\nprint('ENV', sorted(os.environ))\n"
            f"print('SECRET-SEEN', {SECRET!r} in str(os.environ))\n"
            f"try:\n    socket.create_connection(('127.0.0.1', {port}), timeout=3)\n    print('NET-' + 'OPEN')\n"
            "except OSError as exc:\n    print('NET-BLOCKED', type(exc).__name__)\n")), FULL,
            "reads the grader's environment, connects to the grader's loopback"),
        "h_memory": (prepend(filled(NAME), (
            "import numpy\ntry:\n    hog = numpy.ones(40 * 2**30 // 8)\n    print('ALLOCATED')\n"
            "except MemoryError:\n    print('MEMORY-LIMITED')\n")), FULL, "allocates 40 GiB"),
        "i_signal": (_append(filled(NAME), ("import os, signal\nfor pid in (1, os.getppid(), -1, 0):\n"
                                            "    try:\n        os.kill(pid, signal.SIGKILL)\n"
                                            "    except OSError:\n        pass")),
                     FULL, "kills every process it can see (the grader, if it could), then itself"),
        "j_ignore_interrupt": (_append(filled(NAME), (
            "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    time.sleep(1)")),
            FULL, "ignores interrupts in an endless last cell"),
        "k_leak": (leaky, FULL - POINTS[alone], "prints and raises with the hidden inputs"),
        "l_xss": (xss, FULL, "a free-response answer with <script>, onerror and a javascript: link"),
        "m_forbidden": (forbidden, FULL - POINTS["conv_forward_naive"], "F.conv2d (aliased) in the by-hand convolution"),
        "n_duplicated": (duplicated, FULL, "an answer cell duplicated in JupyterLab"),
        "o_deleted_test": (no_test, FULL, "a test cell deleted"),
        "p_forbidden_elsewhere": (elsewhere, FULL - POINTS["conv_forward_naive"],
                                  "F.conv2d (aliased) in a cell of its own that redefines the function"),
        "q_compares": (compares, FULL, "honest: compares the answer with F.conv2d in a cell of its own"),
        "r_display_update": (updated, FULL - POINTS["receptive_field"],
                             "a later cell replaces the test cell's records through display ids"),
        "s_leak_anywhere": (_append(filled(NAME), (
            "import torch\nfor name, spec in torch.load('cases.pt', weights_only=True)['exercises'].items():\n"
            "    print('LEAK-' + 'INPUT', name, [c['args'] for c in spec['hidden']])\n")), FULL,
            "prints the hidden inputs from a cell of its own"),
        "t_img_attributes": (_append(filled(NAME), (
            "from IPython.display import display\n"
            f"display({{'image/png': {png!r}}}, metadata={{'image/png': {{'width': '1 on' + 'load=alert(41)'}}}},\n"
            "        raw=True)\n"
            "display({'text/markdown': '[x](java' + 'script:alert(42))'}, raw=True)\n")), FULL,
            "an image whose width metadata is an event handler; a javascript: link in a markdown output"),
        "u_blames_the_machine": (_append(filled(NAME), (
            "shell = get_ipython().display_pub\n"
            "shell.session.send(shell.pub_socket, 'stream', {'text': 'no name'}, parent=shell.parent_header,\n"
            "                   ident=shell.topic)\nimport time\ntime.sleep(1)\n")), FULL,
            "a malformed message, to look like the machine's failure"),
        "v_hidden_library": (hidden_library, FULL - sum(POINTS[ex.name] for ex in specs.exercises(NAME) if ex.forbids),
                             "F.conv2d planted on torch in a cell of its own; eval in an answer, which may bind any "
                             "name: every exercise that forbids a call loses its points"),
        "w_tamper_checker": (prepend(filled(NAME), "import course_utils.grading as _g\n_g.run_case = _g.run_case\n"),
                             0, "changes the checks' code (here without effect): nothing it records is trusted"),
        "z_honest": (filled(NAME), FULL, "an honest student graded after every attack"),
    }


@pytest.fixture(scope="module")
def hostile_batch(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    out, subs = tmp / "out", tmp / "subs"
    listener = _Listener()
    attacks = _attacks(out, listener.port)
    for student, (nb, _, _) in attacks.items():
        folder = subs / student / NAME
        folder.mkdir(parents=True)
        name = f"{NAME} (1).ipynb" if student == "z_honest" else f"{NAME}.ipynb"  # a renamed notebook
        nbformat.write(nb, folder / name)
    guarded = [p for p in (REPO / "course_utils", REPO / "autograder", REPO / "README.md",
                           Path(sys.prefix) / "lib" / "python3.11" / "site-packages" / "course_utils") if p.exists()]
    before = _tree_hash(guarded)
    with environment(CVCOURSE_CELL_TIMEOUT="15", CVCOURSE_NOTEBOOK_TIMEOUT="60", CVCOURSE_TEST_SECRET=SECRET):
        results = {r.student: r for r in grade(subs, out, [NAME], progress=lambda _: None, workers=2)}
    time.sleep(5)  # the batch ran on long after f_escape: an escaped process would have acted by now
    listener.running = False
    return {"results": results, "attacks": attacks, "out": out, "before": before, "after": _tree_hash(guarded),
            "listener": listener}


def _autograded(out: Path, student: str) -> str:
    return (out / "course" / "autograded" / student / NAME / f"{NAME}.ipynb").read_text()


def test_every_submission_gets_the_score_it_must(hostile_batch):
    rows = []
    for student, (_, expected, what) in hostile_batch["attacks"].items():
        result = hostile_batch["results"][student]
        rows.append(f"{student:<20} {result.auto_score:>4g}/{FULL} expected {expected:>4g}  {what}  [{result.status}]")
        assert result.auto_score == expected, "\n".join(rows)
    print("\n".join(rows))


def test_nothing_outside_the_sandboxes_changed(hostile_batch):
    out = hostile_batch["out"]
    assert hostile_batch["before"] == hostile_batch["after"]
    assert not (Path(sys.prefix) / "lib" / "python3.11" / "site-packages" / "sitecustomize.py").exists()
    assert not (REPO / "course_utils" / "evil.py").exists()
    assert "owned" not in (out / "feedback" / "a_honest" / f"{NAME}.html").read_text()
    assert "BLOCKED" in _autograded(out, "e_tamper") and "WROTE" not in _autograded(out, "e_tamper")
    assert not list((out / "jobs").rglob("escaped")), "a process outlived its sandbox"
    assert subprocess.run(["pgrep", "-f", "pathlib.Path..escaped"], capture_output=True).returncode == 1


def test_the_kernel_sees_nothing_of_the_grader(hostile_batch):
    out = hostile_batch["out"]
    copy = _autograded(out, "d_copy")
    assert "SEES-CLASSMATE False" in copy
    env = _autograded(out, "g_environ_network")
    assert "SECRET-SEEN False" in env and "NET-BLOCKED" in env and "NET-OPEN" not in env
    assert hostile_batch["listener"].connections == 0
    assert "MEMORY-LIMITED" in _autograded(out, "h_memory")


def test_failures_and_honest_accidents_are_reported(hostile_batch):
    results = hostile_batch["results"]
    assert results["i_signal"].status.startswith("failed: the kernel died")
    assert "limit" in results["j_ignore_interrupt"].status or "responding" in results["j_ignore_interrupt"].status
    for student in ("a_honest", "z_honest", "n_duplicated", "o_deleted_test", "l_xss", "q_compares",
                    "u_blames_the_machine"):  # its malformed message is dropped, and the notebook goes on
        assert results[student].status == "graded", (student, results[student].status)
    assert not any(r.infrastructure_error for r in results.values())
    rows = {r["student"]: r for r in csv.DictReader(open(hostile_batch["out"] / "grades.csv"))}
    assert rows["m_forbidden"]["forbidden_calls"] == rows["p_forbidden_elsewhere"]["forbidden_calls"] == "conv_forward_naive"
    assert rows["q_compares"]["forbidden_calls"] == "" and "SAME AS THE LIBRARY True" in _autograded(
        hostile_batch["out"], "q_compares")
    assert all(r["sandboxed"] == "yes" for r in rows.values())
    html = (hostile_batch["out"] / "feedback" / "m_forbidden" / f"{NAME}.html").read_text()
    assert "G.conv2d" in html and "forbids" in html


def test_feedback_leaks_nothing_and_runs_nothing(hostile_batch):
    out = hostile_batch["out"]
    leak = (out / "feedback" / "k_leak" / f"{NAME}.html").read_text()
    assert "LEAK-ARGS" not in leak and "LEAK-EXC" not in leak and "raised ValueError" in leak
    for text in ((out / "feedback" / "l_xss" / f"{NAME}.html").read_text(), _autograded(out, "l_xss")):
        assert "alert('xss')" in text or "alert(&#x27;xss" in text or "alert(&#39;xss" in text  # shown, as text
        assert not re.search(r"<script>\s*alert|<img[^>]*onerror|href=.?javascript:", text)
        assert "alert('table')" in text or "alert(&#x27;table" in text or "alert(&#39;table" in text
    assert "LEAK-INPUT" in _autograded(out, "s_leak_anywhere")  # the instructor sees what it did
    assert "LEAK-INPUT" not in (out / "feedback" / "s_leak_anywhere" / f"{NAME}.html").read_text()
    for text in ((out / "feedback" / "t_img_attributes" / f"{NAME}.html").read_text(),
                 _autograded(out, "t_img_attributes")):
        assert "onload" not in text and "javascript:alert(42)" not in text
    for student in hostile_batch["attacks"]:
        html = out / "feedback" / student / f"{NAME}.html"
        if html.exists():
            text = html.read_text()
            assert "CHECK.hidden" not in text and "vnd.cvcourse.record" not in text
