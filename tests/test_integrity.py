"""The grader's static check for forbidden library calls in answer cells."""

from __future__ import annotations

import dataclasses
import importlib
import textwrap

import pytest

from autograder.integrity import ALIASES, OPAQUE, ForbiddenUse, forbidden_uses, reaching_cells, tampering

CONV = "torch.nn.functional.conv2d"
NMS = "torchvision.ops.nms"
SETUP = "import numpy as np\nimport torch\nimport torch.nn.functional as F\n"


def found(answer: str, forbids=(CONV,), context=(SETUP,)) -> list[tuple[int, str, str]]:
    """``(line, name, text)`` of each finding, the answer dedented first."""
    return [(u.line, u.name, u.text) for u in forbidden_uses(textwrap.dedent(answer), forbids, context)]


# --- resolution rules -------------------------------------------------------------------------

def test_setup_cell_alias_reaches_the_answer():
    answer = """\
    def conv(x, w):
        return F.conv2d(x, w)
    """
    assert found(answer) == [(2, CONV, "F.conv2d")]
    assert found(answer, context=()) == []  # without the setup cell, F is nothing known


@pytest.mark.parametrize("answer, line, text", [
    ("import torch.nn.functional\ny = torch.nn.functional.conv2d(x, w)", 2, "torch.nn.functional.conv2d"),
    ("import torch.nn.functional as G\ny = G.conv2d(x, w)", 2, "G.conv2d"),
    ("from torch.nn import functional\ny = functional.conv2d(x, w)", 2, "functional.conv2d"),
    ("from torch import nn\ny = nn.functional.conv2d(x, w)", 2, "nn.functional.conv2d"),
])
def test_import_forms(answer, line, text):
    assert found(answer, context=()) == [(line, CONV, text)]


def test_from_import_of_the_function_reports_import_and_uses():
    answer = """\
    from torch.nn.functional import conv2d as c2
    y = c2(x, w)
    """
    assert found(answer, context=()) == [
        (1, CONV, "from torch.nn.functional import conv2d"), (2, CONV, "c2")]


def test_relative_imports_are_ignored():
    answer = "from .torch import nn\ny = nn.functional.conv2d(x)\nfrom .torch.nn.functional import conv2d\n"
    assert found(answer, context=()) == []
    assert found(answer.replace(".torch", "torch"), context=()) != []


def test_star_import_binds_nothing_but_is_reported_when_it_holds_a_forbidden_name():
    assert found("from torchvision.ops import *\nkeep = nms(b, s, 0.5)", forbids=(NMS,), context=()) == [
        (1, NMS, "from torchvision.ops import *")]
    assert found("from numpy import *\nkeep = argsort(s)", forbids=(NMS,), context=()) == []


def test_assignment_in_answer_at_any_level():
    answer = """\
    def conv(x, w):
        G = torch.nn.functional
        return G.conv2d(x, w)
    """
    assert found(answer) == [(3, CONV, "G.conv2d")]


def test_alias_chains_and_tuple_assignment():
    answer = """\
    nn_ = torch.nn
    G, H = nn_.functional, np
    y = G.conv2d(x, w)
    """
    assert found(answer) == [(3, CONV, "G.conv2d")]


def test_module_level_assignment_in_context():
    context = ("import torch\nG = torch.nn.functional\n",)
    assert found("y = G.conv2d(x, w)", context=context) == [(1, CONV, "G.conv2d")]


def test_context_assignment_inside_a_function_does_not_bind():
    context = ("import torch\ndef setup():\n    G = torch.nn.functional\n",)
    assert found("y = G.conv2d(x, w)", context=context) == []


def test_a_reference_without_a_call_is_a_use_and_so_is_its_alias():
    answer = """\
    conv = F.conv2d
    y = conv(x, w)
    """
    assert found(answer) == [(1, CONV, "F.conv2d"), (2, CONV, "conv")]


@pytest.mark.parametrize("expr", [
    "getattr(F, 'conv2d')",
    'getattr(torch.nn.functional, "conv" + "2d")',
    "getattr(getattr(torch.nn, 'func' + 'tional'), 'conv2d')",
])
def test_getattr_with_constant_strings(expr):
    assert found(f"y = {expr}(x, w)") == [(1, CONV, expr)]


def test_getattr_with_a_computed_name_is_code_the_grader_cannot_check_where_it_could_reach_one():
    assert found("name = 'conv' + suffix\ny = getattr(F, name)(x, w)") == [(2, OPAQUE, "getattr(F, name)")]
    assert found("reduce = getattr(np, mode)\ny = reduce(x, axis=(2, 3))") == []  # numpy holds nothing forbidden


@pytest.mark.parametrize("answer, text", [
    ("y = eval('F.conv' + '2d')(x, w)", "eval('F.conv' + '2d')"),
    ("exec('y = F.conv' + '2d(x, w)')", "exec('y = F.conv' + '2d(x, w)')"),
    ("y = F.__dict__['conv2d'](x, w)", "F.__dict__"),
    ("y = vars(F)['conv2d'](x, w)", "vars(F)"),
    ("globals()['helper'] = 1", "globals()"),
    ("conv.__code__ = other.__code__", "conv.__code__"),
    ("import importlib\nG = importlib.import_module(name)", "importlib.import_module(name)"),
    ("from my_own_module import conv", "from my_own_module import ..."),
    ("import my_own_module", "import my_own_module"),
])
def test_code_the_grader_cannot_check_is_forbidden_where_calls_are(answer, text):
    """Text run as code, code or namespaces swapped, a module the notebook wrote itself: where an exercise
    forbids a call, its code must show what it calls."""
    assert (OPAQUE, text) in [(name, t) for _, name, t in found(answer)]
    assert "code the grader cannot check" in forbidden_uses(answer, (CONV,), (SETUP,))[0].message()


def test_other_spellings_of_the_library_functions_are_the_same_function():
    answer = """\
    a = torch.convolution(x, w, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1)
    b = torch.ops.aten.conv2d(x, w)
    c = torch.nn.grad.conv2d_input(x.shape, w, g)
    d = F.max_pool2d_with_indices(x, 2)[0]
    e = torch.ops.aten.im2col(x, [3, 3], [1, 1], [0, 0], [1, 1])
    """
    assert [(line, name) for line, name, _ in found(answer, forbids=(CONV, "torch.nn.functional.max_pool2d",
                                                                     "torch.nn.functional.unfold"))] == [
        (1, CONV), (2, CONV), (3, CONV), (4, "torch.nn.functional.max_pool2d"), (5, "torch.nn.functional.unfold")]


@pytest.mark.parametrize("answer, line, text", [
    ("import importlib\nG = importlib.import_module('torch.nn.functional')\ny = G.conv2d(x)", 3, "G.conv2d"),
    ("from importlib import import_module as im\ny = im('torch.nn.functional').conv2d(x)",
     2, "im('torch.nn.functional').conv2d"),
    ("import sys\ny = sys.modules['torch.nn.functional'].conv2d(x)", 2, "sys.modules['torch.nn.functional'].conv2d"),
])
def test_import_module_and_sys_modules(answer, line, text):
    assert found(answer, context=()) == [(line, CONV, text)]


@pytest.mark.parametrize("answer, line, text", [
    ("keep = __import__('torchvision.ops').ops.nms(b, s, 0.5)", 1, "__import__('torchvision.ops').ops.nms"),
    ("ops = __import__('torchvision.ops', fromlist=['nms'])\nkeep = ops.nms(b, s, 0.5)", 2, "ops.nms"),
    ("tv = __import__('torchvision')\nkeep = getattr(tv.ops, 'nms')(b, s, 0.5)", 2, "getattr(tv.ops, 'nms')"),
])
def test_dunder_import(answer, line, text):
    assert found(answer, forbids=(NMS,), context=()) == [(line, NMS, text)]


def test_importing_a_forbidden_module_is_a_use():
    assert found("import torchvision.ops\n", forbids=("torchvision.ops",), context=()) == [
        (1, "torchvision.ops", "import torchvision.ops")]
    assert found("ops = __import__('torchvision.ops')", forbids=("torchvision.ops",), context=()) == [
        (1, "torchvision.ops", "__import__('torchvision.ops')")]


# --- matching -----------------------------------------------------------------------------------

def test_a_module_forbids_everything_under_it():
    answer = "import torchvision\nkeep = torchvision.ops.nms(b, s, 0.5)\niou = torchvision.ops.boxes.box_iou(a, b)"
    assert found(answer, forbids=("torchvision.ops",), context=()) == [
        (2, "torchvision.ops", "torchvision.ops.nms"), (3, "torchvision.ops", "torchvision.ops.boxes.box_iou")]


@pytest.mark.parametrize("answer", [
    "y = F.conv2d_weight(x, w)",
    "y = torch.nn.functional.conv_transpose2d(x, w)",
    "y = torch.conv2d_helper(x)",
    "from torch.nn.functional import conv2d_input",
])
def test_names_that_only_start_with_the_forbidden_text_are_allowed(answer):
    assert found(answer) == []


def test_module_prefix_matches_only_at_dot_boundaries():
    assert found("import torchvision\ntorchvision.ops.nms(b, s, 0.5)", forbids=("torchvision.op",)) == []


@pytest.mark.parametrize("forbid, answer, text", [
    (CONV, "y = torch.conv2d(x, w)", "torch.conv2d"),
    (NMS, "keep = torch.ops.torchvision.nms(b, s, 0.5)", "torch.ops.torchvision.nms"),
    (NMS, "from torchvision.ops.boxes import nms", "from torchvision.ops.boxes import nms"),
    ("torchvision.ops", "y = torch.ops.torchvision.roi_align(x, r, 1.0, 7, 7, 2, True)",
     "torch.ops.torchvision.roi_align"),
    ("torch.nn.functional", "y = torch.max_pool2d(x, 2)", "torch.max_pool2d"),
    ("torch.conv2d", "y = F.conv2d(x, w)", "F.conv2d"),  # an alias spelling forbids the canonical one
])
def test_aliases_reach_the_same_function(forbid, answer, text):
    assert found(answer, forbids=(forbid,)) == [(1, forbid, text)]


def test_the_most_specific_forbidden_name_is_reported():
    assert found("y = F.conv2d(x, w)", forbids=("torch.nn.functional", CONV)) == [(1, CONV, "F.conv2d")]


def test_each_line_and_name_is_reported_once_with_the_longest_spelling():
    answer = "y = F.conv2d(F.conv2d(x, w), w)\nz = F.conv2d(y, w)"
    assert found(answer, forbids=("torch.nn.functional",)) == [
        (1, "torch.nn.functional", "F.conv2d"), (2, "torch.nn.functional", "F.conv2d")]


def test_line_numbers_and_multiline_text():
    answer = """\
    import numpy as np


    def conv(x, w):
        '''Mentions F.conv2d in a docstring only.'''
        out = np.zeros(3)
        out += (torch.nn
                .functional.conv2d)(x, w)
        return out
    """
    assert found(answer) == [(7, CONV, "torch.nn .functional.conv2d")]


def test_shadowing_is_ignored_on_purpose():
    """Scopes are not modelled: a parameter named like a module alias is still reported."""
    assert found("def f(F, x):\n    return F.conv2d(x)") == [(2, CONV, "F.conv2d")]
    assert found("def g():\n    F = np\ny = F.conv2d(x, w)") == [(3, CONV, "F.conv2d")]


# --- IPython syntax and broken cells ----------------------------------------------------------------

def test_magics_are_dropped_and_lines_kept():
    answer = """\
    %matplotlib inline
    !pip list
    def conv(x, w):
        %time pass
        return F.conv2d(x, w)
    """
    assert found(answer) == [(5, CONV, "F.conv2d")]


def test_code_inside_a_line_magic_is_scanned():
    assert found("x = 1\n%time y = F.conv2d(x, w)\n") == [(2, CONV, "F.conv2d")]


def test_context_magics_do_not_hide_imports():
    assert found("y = F.conv2d(x, w)", context=("%load_ext autoreload\n" + SETUP,)) == [(1, CONV, "F.conv2d")]


def test_unparsable_answer_falls_back_to_tokens():
    answer = """\
    def conv(x, w:
        # F.conv2d would be cheating
        s = "F.conv2d"
        return F.conv2d(x, w)
    """
    assert found(answer) == [(4, CONV, "F.conv2d")]


def test_unparsable_answer_with_unterminated_string_does_not_raise():
    assert found("y = torch.conv2d(x, w)\ns = '''never closed\n") == [(1, CONV, "torch.conv2d")]


def test_unparsable_context_cell_is_skipped():
    context = ("def broken(:\n    import torch.nn.functional as G\n", SETUP)
    assert found("y = G.conv2d(x)\nz = F.conv2d(x)", context=context) == [(2, CONV, "F.conv2d")]


# --- honest answers -------------------------------------------------------------------------------------

def test_honest_numpy_answer():
    answer = '''\
    def conv2d(x, w):
        """By hand; torch.nn.functional.conv2d is only the reference."""
        # check against F.conv2d in the test cell, not here
        n, c, h, wd = x.shape
        k = w.shape[-1]
        out = np.zeros((n, w.shape[0], h - k + 1, wd - k + 1))
        for i in range(h - k + 1):
            for j in range(wd - k + 1):
                out[:, :, i, j] = np.einsum("nchw,ochw->no", x[:, :, i:i + k, j:j + k], w)
        return out
    '''
    assert found(answer, forbids=(CONV, "torch.nn.functional.unfold")) == []


def test_honest_answer_with_similar_allowed_names():
    answer = """\
    from scipy.signal import convolve2d
    def my_conv2d(x, w):
        y = F.relu(x)
        z = F.conv2d_like = None
        return conv2d(y, w) + convolve2d(y, w) + torch.nn.functional.pad(y, (1, 1)) + nms_score(y)
    """
    assert found(answer, forbids=(CONV, NMS)) == []


def test_no_forbids_means_no_findings():
    assert found("y = F.conv2d(x, w)", forbids=()) == []


# --- API ------------------------------------------------------------------------------------------------

def test_message_and_frozen():
    use = forbidden_uses("y = F.conv2d(x, w)", [CONV], [SETUP])[0]
    assert use == ForbiddenUse(CONV, 1, "F.conv2d")
    assert use.message() == "line 1 uses F.conv2d (torch.nn.functional.conv2d), which this exercise forbids"
    with pytest.raises(dataclasses.FrozenInstanceError):
        use.line = 2  # type: ignore[misc]


def _reached(name: str) -> list[object]:
    """What a dotted name reaches, importing each module prefix in turn and taking the rest as attributes."""
    parts, reached = name.split("."), []
    for i in range(1, len(parts) + 1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except (ImportError, AttributeError):
            continue
        reached.append(obj)
    return reached


@pytest.mark.parametrize("name", sorted({n for k, v in ALIASES.items() for n in (k, *v)}))
def test_every_alias_exists_in_the_installed_libraries(name):
    importlib.import_module("torchvision")  # registers torch.ops.torchvision
    assert any(callable(obj) for obj in _reached(name)), name


def test_the_required_aliases_are_present():
    required = {
        CONV: "torch.conv2d", "torch.nn.functional.conv_transpose2d": "torch.conv_transpose2d",
        "torch.nn.functional.max_pool2d": "torch.max_pool2d",
        "torch.nn.functional.avg_pool2d": "torch._C._nn.avg_pool2d",
        NMS: "torch.ops.torchvision.nms", "torchvision.ops.box_iou": "torchvision.ops.boxes.box_iou",
        "torchvision.ops.roi_align": "torch.ops.torchvision.roi_align",
        "torchvision.ops.roi_pool": "torchvision.ops.roi_pool.roi_pool",
    }
    assert all(alias in ALIASES[key] for key, alias in required.items())
    assert "torch.nn.functional.unfold" in ALIASES


# --- loops ----------------------------------------------------------------------------------------

def test_for_and_while_forbid_loops_and_comprehensions_only():
    answer = """\
    def tv(x):
        total = 0
        for i in range(3):
            total += x[i]
        while total > 1:
            total = total / 2
        parts = [v * 2 for v in x]
        return sum(v for v in x) + total, F.conv2d(x, x)
    """
    assert found(answer, forbids=("for",)) == [(3, "for", "a for loop"), (7, "for", "a comprehension"),
                                               (8, "for", "a comprehension")]
    assert found(answer, forbids=("while",)) == [(5, "while", "a while loop")]
    assert found(answer, forbids=("for", "while", CONV))[-1] == (8, CONV, "F.conv2d")
    assert found("def tv(x):\n    return ((x[1:] - x[:-1]) ** 2).sum()\n", forbids=("for", "while")) == []
    message = forbidden_uses("for i in x:\n    pass\n", ("for",))[0].message()
    assert message == "line 1 uses a for loop (for), which this exercise forbids"


# --- which cells an exercise's function may run ------------------------------------------------

CELLS = [
    SETUP,                                                                    # 0 the course's setup
    "def conv(x, w, b):\n    return helper(x, w) + b\n",                    # 1 the answer cell
    "def helper(x, w):\n    return inner(x, w)\n",                          # 2 a helper the answer calls
    "inner = lambda x, w: F.conv2d(x, w)\n",                                # 3 a helper of the helper
    "x = w = b = torch.ones(1, 1, 3, 3)\nprint((conv(x, w, b) - F.conv2d(x, w) - b).abs().max())\n",  # 4 a comparison
    "def unrelated():\n    global conv\n    conv = F.conv2d\n",              # 5 rebinds conv when called
    "def conv(x, w, b):\n    return F.conv2d(x, w, b)\n",                   # 6 redefines the answer's function
]


@pytest.mark.parametrize("own, answer, expected", [
    ({1, 2, 3, 4}, 1, [1, 2, 3]),        # the helpers are followed; the comparison binds nothing conv uses
    ({1, 2, 3, 4, 5, 6}, 1, [1, 2, 3, 5, 6]),  # a redefinition anywhere, or a global rebinding, is followed
    ({2, 3, 6}, None, [6]),                # the answer cell deleted: its replacement is found by the name
    ({1, 4}, 1, [1]),                      # helpers the course wrote (not the student's) are not scanned
])
def test_reaching_cells(own, answer, expected):
    assert reaching_cells(CELLS, answer, "conv", own) == expected


def test_a_comparison_cell_is_not_a_use_but_a_helper_is():
    """End to end as the grader does it: the helper's forbidden call is found, the comparison's is not."""
    uses = {k: forbidden_uses(CELLS[k], (CONV,), CELLS[:k] + CELLS[k + 1:])
            for k in reaching_cells(CELLS, 1, "conv", {1, 2, 3, 4})}
    assert {k: [u.text for u in found] for k, found in uses.items()} == {1: [], 2: [], 3: ["F.conv2d"]}


def test_a_helper_planted_on_a_module_a_swapped_code_or_a_name_bound_through_globals_is_reached():
    cells = [SETUP,
             "def conv(x, w):\n    return torch.mine(x, w) + other(x)\n",         # 1 the answer
             "torch.mine = lambda x, w: F.conv2d(x, w)\n",                        # 2 a helper on a module
             "globals()['other'] = lambda x: x\n",                                # 3 binds any name
             "def impl(x, w):\n    return F.conv2d(x, w)\nconv.__code__ = impl.__code__\n",  # 4 swaps the code
             "print(conv(1, 2))\n"]                                                  # 5 binds nothing
    assert reaching_cells(cells, 1, "conv", {1, 2, 3, 4, 5}) == [1, 2, 3, 4]


@pytest.mark.parametrize("cell, changed", [
    ("g.run_case = lambda *a, **k: {}", "g.run_case"),
    ("CHECK._run = lambda *a: None", "CHECK._run"),
    ("setattr(g, 'encode_record', f)", "setattr(g, 'encode_record', f)"),
    ("course_utils.grading.__dict__['run_case'] = f", "course_utils.grading.__dict__['run_case']"),
    ("del g.run_case", "g.run_case"),
    ("x = CHECK.visible\nnp.x = 1\nlayer[:, 0] = 0", None),  # reading the checker, changing its own data
])
def test_changing_the_course_library_is_tampering(cell, changed):
    context = ["import numpy as np\nimport course_utils\nimport course_utils.grading as g\n"
               "from course_utils import Checker, capture\nCHECK = Checker('01_conv_pool')\nlayer = capture(1)\n"]
    uses = tampering(cell, context)
    assert [u.text for u in uses] == ([changed] if changed else [])
    assert all("changes the course's checking code" in u.message() for u in uses)
