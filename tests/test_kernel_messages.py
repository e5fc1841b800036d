"""What a hostile kernel can send the grader, and what the grader keeps of it.

Each test runs a tiny notebook in the sandbox, as ``cvcourse grade`` does, on the toy exercise
``double(x) = 2 * x``: the student's kernel sends IOPub (and shell) messages of its own making, and the
grade, the outputs kept and the run's status must not depend on the kernel's good will.
"""

from __future__ import annotations

import json

import nbformat
import pytest
from toy_exercise import CASES, DOUBLE, HIDDEN, VISIBLE
from toy_exercise import code_cell as _cell

from autograder.execute import execute
from autograder.jobs import Job, run_job, tar_folder
from autograder.sandbox import Limits
from autograder.scoring import records_from_notebook, score_assignment
from course_utils import store
from course_utils.grading import CASES_ENV, RECORD_MIME

SETUP = "from course_utils import Checker\nCHECK = Checker('toy')\n"
TEST = 'CHECK.visible("double", double)\nCHECK.hidden("double", double)'
#: sends one IOPub message of the kernel's own making, as a child of the running cell
RAW = ("def raw(msg_type, content, parent=None):\n"
       "    dp = get_ipython().display_pub\n"
       "    dp.session.send(dp.pub_socket, msg_type, content, parent=parent or dp.parent_header, ident=dp.topic)\n")


def _execute(tmp_path, *sources: str | nbformat.NotebookNode, limits: Limits | None = None):
    """The notebook of ``sources`` executed in the sandbox with the grader's cases, and the run."""
    store.save(tmp_path / "scratch" / "cases.pt", CASES)
    nb = nbformat.v4.new_notebook(cells=[s if isinstance(s, dict) else _cell(s) for s in sources])
    run = execute(nb, tmp_path / "scratch", limits or Limits(), {CASES_ENV: str(tmp_path / "scratch" / "cases.pt")})
    return nb, run


def _earned(nb) -> float:
    return score_assignment(records_from_notebook(nb, ["double"]), VISIBLE, HIDDEN, [DOUBLE])["double"].earned


# -- finding 1: a later cell cannot rewrite the test cell's outputs through a display_id ------------------

FORGE = """
import os, torch
from IPython.display import display, update_display
from course_utils import store
from course_utils.grading import RECORD_MIME, encode_record, run_case
spec = store.load(os.environ['CVCOURSE_CASES'])['exercises']['double']
for which, slot in (('visible', 'v'), ('hidden', 'h')):
    right = [run_case(lambda x: 2 * x, case, True, torch.device('cpu')) for case in spec[which]]
    {how}({{RECORD_MIME: encode_record('double', which, right)}}, raw=True, display_id=slot)
"""


@pytest.mark.parametrize("how", ["update_display", "display"])
def test_a_later_cell_cannot_rewrite_the_test_cell_records_through_a_display_id(tmp_path, how):
    """The wrong answer shows display_id placeholders in the test cell; a later cell fills them with right
    records, by ``update_display`` or by displaying again with the same id. The test cell keeps what it
    showed while it ran: the wrong answer scores nothing."""
    wrong = ("_shown = []\ndef double(x):\n    if not _shown:\n        _shown.append(1)\n"
             "        display({'text/plain': 'slot'}, raw=True, display_id='v')\n"
             "        display({'text/plain': 'slot'}, raw=True, display_id='h')\n"
             "    return x + 2\n")
    nb, run = _execute(tmp_path, SETUP + "from IPython.display import display\n" + wrong,
                       _cell(TEST, "test_double"), FORGE.format(how=how))
    assert run.status == "complete", run
    test_cell = nb.cells[1].outputs
    assert [o["data"] for o in test_cell[:2]] == [{"text/plain": "slot"}] * 2, test_cell[:2]
    assert _earned(nb) == 0
    # a record never arrives through an update, not even into the cell that is running (here the
    # placeholders and their updates come before the test's own records, as the student's function could)
    placeholders = "".join(f"display({{'text/plain': 'slot'}}, raw=True, display_id='{s}')\n" for s in "vh")
    nb, run = _execute(tmp_path, SETUP + "def double(x):\n    return x + 2\n",
                       _cell(FORGE.format(how="update_display").replace("for which", placeholders + "for which")
                             + TEST, "test_double"))
    assert run.status == "complete" and _earned(nb) == 0, run


# -- finding 2: every byte of every output counts against the cell's cap -------------------------------

CAP = 64 << 10
BIG = 1 << 20


def test_no_output_message_escapes_the_cell_cap(tmp_path):
    """Display updates, the extra keys of a record bundle, metadata, errors, results and streams: none
    makes a cell's kept outputs larger than its cap."""
    nb, run = _execute(
        tmp_path,
        "from IPython.display import display, update_display, clear_output\n"
        f"display({{'text/plain': 'small'}}, raw=True, display_id='big')\n"
        f"update_display({{'text/plain': 'A' * {BIG}}}, raw=True, display_id='big')",
        f"update_display({{'text/plain': 'A' * {BIG}}}, raw=True, display_id='big')",
        f"display({{{RECORD_MIME!r}: {{'x': 1}}, 'text/plain': 'B' * {BIG}}}, raw=True)",
        f"display({{{RECORD_MIME!r}: {{'x': 1}}, 'text/html': 'C' * {BIG}}}, raw=True)\n"
        f"display({{'text/plain': 'd'}}, metadata={{'m': 'D' * {BIG}}}, raw=True)",
        f"for _ in range(40):\n    clear_output(wait=True)\n    print('S' * {CAP // 2})",
        f"print('S' * {BIG})",
        f"'R' * {BIG}",
        f"raise ValueError('E' * {BIG})",
        limits=Limits(output_bytes=CAP))
    assert run.status == "complete", run
    sizes = [len(json.dumps(cell.outputs)) for cell in nb.cells]
    assert max(sizes) <= CAP + 1024, sizes
    (record,) = nb.cells[2].outputs
    assert record["data"][RECORD_MIME] == {"x": 1} and len(record["data"]["text/plain"]) < 1024
    assert "the grader dropped this cell's output" in str(nb.cells[5].outputs)


# -- finding 3: a kernel's malformed messages are its own failure, never the machine's ------------------

MALFORMED = """
dp = get_ipython().display_pub
raw('stream', {'text': 'boom'})
raw('stream', {'name': 'stdout', 'text': ['not', 'a', 'string']})
raw('stream', {'name': '../etc', 'text': 'x'})
raw('display_data', {'data': 'not a bundle', 'metadata': {}})
raw('display_data', {'data': {'text/plain': 1}})
raw('display_data', b'[1, 2]')
raw('execute_result', {'data': {}, 'metadata': {}, 'execution_count': 'x'})
raw('error', {'ename': 'E'})
raw('clear_output', b'[]')
raw('status', {})
raw('update_display_data', {'data': {}, 'metadata': {}, 'transient': 'x'})
raw('comm_open', {})
raw('comm_msg', {'comm_id': 'c', 'data': {'state': {'x': 'y' * 100}}})
raw('no_such_type', {})
dp.session.send(dp.pub_socket, {'header': {}, 'parent_header': dp.parent_header, 'metadata': {}, 'content': {}},
                ident=dp.topic)
dp.session.send(dp.pub_socket, {'header': {'msg_type': 'stream', 'msg_id': 'm'}, 'parent_header': [1],
                                'metadata': {}, 'content': {}}, ident=dp.topic)
dp.session.send(dp.pub_socket, 'stream', b'{not json', parent=dp.parent_header, ident=dp.topic)
k = get_ipython().kernel  # and an execute reply without a status, on the shell channel
k.session.send(k.shell_stream, 'execute_reply', {'no': 'status'}, parent=k.get_parent(), ident=k._parent_ident['shell'])
print('the cell goes on')
"""


def test_malformed_messages_are_dropped_and_the_notebook_goes_on(tmp_path):
    """The red team's stream without a name, and every other malformed message a kernel can send on
    IOPub, is left out; the cell's own outputs, the later cells and the record stay."""
    nb, run = _execute(tmp_path, SETUP + RAW + "def double(x):\n    return 2 * x\n", MALFORMED,
                       _cell(TEST, "test_double"), "print('after')")
    assert run.status == "complete" and not run.infrastructure and run.cells_run == 4, run
    assert "the cell goes on" in str(nb.cells[1].outputs) and "boom" not in str(nb.cells[1].outputs)
    assert "after" in str(nb.cells[3].outputs)
    nbformat.validate(nb)
    assert _earned(nb) == 3


FORGED_REPLY = """
k = get_ipython().kernel
k.session.send(k.shell_stream, 'execute_reply', b'{not json', parent=k.get_parent(), ident=k._parent_ident['shell'])
import time; time.sleep(0.5)
"""


def test_a_message_the_grader_cannot_read_is_the_student_failure(tmp_path):
    """An execute reply that is not JSON ends the run, as the student's failure: the points earned before
    stay, and the job is not run again as the machine's fault. (A display nested too deep for nbformat
    to write is left out, rather than making the job fail in the grader.)"""
    store.save(tmp_path / "cases.pt", CASES)
    deep = "v = []\nfor _ in range(500):\n    v = [v]\ndisplay({'application/json': v}, raw=True)"
    nb = nbformat.v4.new_notebook(cells=[_cell(SETUP + "def double(x):\n    return 2 * x\n"),
                                         _cell(TEST, "test_double"), _cell(deep), _cell(FORGED_REPLY),
                                         _cell("print('never')")])
    (tmp_path / "files").mkdir()
    job = Job("s", "toy", nbformat.writes(nb), tar_folder(tmp_path / "files"), (tmp_path / "cases.pt").read_bytes(),
              limits=Limits())
    outcome = run_job(job)
    run = outcome.execution
    assert not run.infrastructure and "code cell 4" in run.status and "could not read" in run.status, run
    assert _earned(nbformat.reads(outcome.notebook, as_version=4)) == 3
