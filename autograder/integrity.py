"""Static check that an answer cell uses no library call its exercise forbids (source text only, never run).

Names resolve to dotted names through imports, simple alias assignments, attribute chains, constant
``getattr``, ``importlib.import_module``, ``__import__`` and ``sys.modules[...]``. Scopes are ignored on
purpose (conservative): any binding of a name in the answer cell, or at module level in a context cell,
is a possible meaning of it everywhere, and a name may always mean the global it spells. So
``def f(F): return F.conv2d(x)`` *is* reported when the setup cell does ``import torch.nn.functional as F``,
and rebinding ``F`` somewhere hides nothing.
"""

from __future__ import annotations

import ast
import functools
import io
import keyword
import symtable
import tokenize
from collections.abc import Iterable
from dataclasses import dataclass

#: Canonical forbidden name -> other spellings that reach the same function. Forbidding any member
#: of a group, or a module holding one, forbids the whole group.
ALIASES: dict[str, tuple[str, ...]] = {
    "torch.nn.functional.conv2d": ("torch.conv2d", "torch.convolution", "torch._convolution", "torch.ops.aten.conv2d",
                                   "torch.ops.aten.convolution", "torch.ops.aten._convolution",
                                   "torch.nn.grad.conv2d_input", "torch.nn.grad.conv2d_weight"),
    "torch.nn.functional.conv_transpose2d": ("torch.conv_transpose2d", "torch.convolution", "torch._convolution",
                                             "torch.ops.aten.conv_transpose2d", "torch.ops.aten.convolution"),
    "torch.nn.functional.max_pool2d": ("torch.max_pool2d", "torch.nn.functional.max_pool2d_with_indices",
                                       "torch._C._nn.max_pool2d_with_indices", "torch.ops.aten.max_pool2d",
                                       "torch.ops.aten.max_pool2d_with_indices"),
    "torch.nn.functional.avg_pool2d": ("torch._C._nn.avg_pool2d", "torch.ops.aten.avg_pool2d"),
    "torch.nn.functional.unfold": ("torch._C._nn.im2col", "torch.ops.aten.im2col"),
    "torchvision.ops.nms": ("torchvision.ops.boxes.nms", "torch.ops.torchvision.nms"),
    "torchvision.ops.box_iou": ("torchvision.ops.boxes.box_iou",),
    "torchvision.ops.roi_align": ("torchvision.ops.roi_align.roi_align", "torch.ops.torchvision.roi_align"),
    "torchvision.ops.roi_pool": ("torchvision.ops.roi_pool.roi_pool", "torch.ops.torchvision.roi_pool"),
}

#: ``forbids`` entries that name a loop statement instead of a library call: ``"for"`` forbids for loops and
#: comprehensions, ``"while"`` while loops (the exercise asks for vectorised code).
LOOPS = {"for": (ast.For, ast.AsyncFor, ast.comprehension), "while": (ast.While,)}

#: What an exercise that forbids anything forbids as well: code this check cannot read. Text run as code,
#: a function's code or globals swapped, a namespace's mapping used to reach or plant a name; also a
#: name looked up at run time in a module that holds a forbidden one, a module imported by a computed
#: name, and a module no installed package provides (one the notebook wrote itself).
OPAQUE = "code the grader cannot check"
_OPAQUE_CALLS = {"eval", "exec", "compile", "globals", "vars", "builtins.eval", "builtins.exec", "builtins.compile",
                 "builtins.globals", "builtins.vars", "types.FunctionType", "types.CodeType"}
_OPAQUE_ATTRIBUTES = {"__code__", "__globals__", "__dict__", "__builtins__", "__getattribute__", "__closure__"}
#: Calls that may bind any global name (``globals()[name] = f``, ``exec(text)``): a cell that makes one is
#: one every exercise's function may run.
ANY_BINDING = {"globals", "vars", "exec", "eval", "setattr", "__import__", "builtins.exec", "builtins.setattr"}
#: The course's own library: a student's cell that changes anything in it tampers with the checks.
COURSE_LIBRARY = "course_utils"
TAMPERING = "tampering"

_BINDINGS = (ast.Import, ast.ImportFrom, ast.Assign, ast.AnnAssign, ast.NamedExpr)
Env = dict[str, set[str]]  # name -> every dotted name it may be bound to


@dataclass(frozen=True)
class ForbiddenUse:
    """One reference to a forbidden name in an answer cell.

    Attributes:
        name: The entry of ``forbids`` the use falls under (``torch.conv2d`` reports
            ``torch.nn.functional.conv2d`` when that is what was forbidden).
        line: 1-based line in the answer cell's source.
        text: How it was written there, e.g. ``F.conv2d`` or ``getattr(F, 'conv2d')``.
    """

    name: str
    line: int
    text: str

    def message(self) -> str:
        """The sentence shown to the student."""
        if self.name == TAMPERING:
            return f"line {self.line} changes the course's checking code ({self.text}): no check of it can be trusted"
        if self.name == OPAQUE:
            return (f"line {self.line} uses {self.text}, {OPAQUE}: where an exercise forbids a call, its code "
                    "must show what it calls")
        return f"line {self.line} uses {self.text} ({self.name}), which this exercise forbids"


def _under(name: str, prefix: str) -> bool:
    """Whether ``name`` is ``prefix`` or lies below it (dot boundaries only)."""
    return name == prefix or name.startswith(prefix + ".")


def _patterns(forbids: Iterable[str]) -> dict[str, str]:
    """Forbidden spelling -> the ``forbids`` entry it stands for, aliases expanded."""
    entries, patterns = sorted(set(forbids), key=len), {}
    for entry in entries:  # longer (more specific) entries win
        for key, values in ALIASES.items():
            if any(_under(member, entry) for member in (key, *values)):
                patterns.update(dict.fromkeys((key, *values), entry))
    patterns.update({entry: entry for entry in entries})  # a direct entry beats an alias
    return patterns


@functools.lru_cache(maxsize=4096)  # every cell is read once per exercise and as others' context: parse it once
def _parse(source: str) -> tuple[ast.Module | None, str, str]:
    """``(tree or None, code, magics)``: IPython ``%``/``!`` lines, kept in magics, are ``pass`` in code.
    The tree is shared: nothing may change it."""
    code, magics = [], []
    for line in source.split("\n"):
        stripped = line.lstrip()
        magic = stripped.startswith(("%", "!"))
        code.append(line[: len(line) - len(stripped)] + "pass" if magic else line)
        magics.append(stripped if magic else "")
    try:
        tree = ast.parse("\n".join(code))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        tree = None
    return tree, "\n".join(code), "\n".join(magics)


def _const_str(node: ast.expr) -> str | None:
    """The value of a constant string or a ``+`` concatenation of them, else None."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _const_str(node.left), _const_str(node.right)
        return None if left is None or right is None else left + right
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _resolve(node: ast.AST, env: Env) -> set[str]:
    """Every dotted name the expression may stand for (empty when it is no name)."""
    if isinstance(node, ast.Name):
        return {node.id} | env.get(node.id, set())
    if isinstance(node, ast.Attribute):
        return {f"{base}.{node.attr}" for base in _resolve(node.value, env)}
    if isinstance(node, ast.Subscript) and "sys.modules" in _resolve(node.value, env):
        return {module} if (module := _const_str(node.slice)) else set()
    if isinstance(node, ast.Call) and node.args:
        funcs, first = _resolve(node.func, env), _const_str(node.args[0])
        if {"getattr", "builtins.getattr"} & funcs and len(node.args) > 1:
            attr = _const_str(node.args[1])
            return set() if attr is None else {f"{base}.{attr}" for base in _resolve(node.args[0], env)}
        if first and not first.startswith(".") and "importlib.import_module" in funcs:
            return {first}
        if first and {"__import__", "builtins.__import__"} & funcs:  # a, or a.b given a fromlist
            return {first, first.split(".")[0]}
    return set()


def _targets(target: ast.expr, value: ast.expr) -> list[tuple[str, ast.expr]]:
    """``(name, value)`` pairs bound by ``target = value``, tuples unpacked pairwise."""
    if isinstance(target, ast.Name):
        return [(target.id, value)]
    if isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List)):
        return [pair for t, v in zip(target.elts, value.elts, strict=False) for pair in _targets(t, v)]
    return []


def _bind(node: ast.AST, env: Env) -> None:
    """Add what an import or a simple assignment binds to ``env`` (a plain name always means itself)."""
    pairs: list[tuple[str, set[str]]] = []
    if isinstance(node, ast.Import):
        pairs = [(a.asname, {a.name}) for a in node.names if a.asname]
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
        pairs = [(a.asname or a.name, {f"{node.module}.{a.name}"}) for a in node.names if a.name != "*"]
    elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        pairs = [(n, _resolve(v, env)) for t in targets for n, v in _targets(t, node.value)]
    for name, meanings in pairs:
        env.setdefault(name, set()).update(meanings)


def _module_level(body: list[ast.stmt]) -> Iterable[ast.AST]:
    """Statements run at module level: nested blocks included, function and class bodies not."""
    for stmt in body:
        if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield stmt
            for field in ("body", "orelse", "finalbody", "handlers"):
                yield from _module_level(getattr(stmt, field, []))


def _installed(module: str) -> bool:
    """Whether the top-level package of ``module`` is one this environment provides."""
    import importlib.util

    try:
        return importlib.util.find_spec(module.split(".")[0]) is not None
    except (ImportError, ValueError):
        return False


def _run_time_lookup(call: ast.Call, env: Env, patterns: dict[str, str]) -> bool:
    """Whether ``call`` runs text as code or swaps code (:data:`_OPAQUE_CALLS`), imports a module by a
    computed name, or looks up by a computed name in a module that holds a forbidden name."""
    funcs = _resolve(call.func, env)
    if funcs & _OPAQUE_CALLS:
        return True
    computed = bool(call.args) and _const_str(call.args[0]) is None
    if computed and funcs & {"importlib.import_module", "__import__", "builtins.__import__"}:
        return True
    if funcs & {"getattr", "builtins.getattr"} and len(call.args) > 1 and _const_str(call.args[1]) is None:
        bases = _resolve(call.args[0], env)
        return any(_under(p, base) for p in patterns for base in bases)
    return False


def _dotted_runs(source: str) -> list[tuple[int, list[str]]]:
    """``(line, parts)`` of each ``a.b.c`` run of names among code tokens (not strings or comments)."""
    runs: list[tuple[int, list[str]]] = []
    state = None  # "name" just after a run's name, "dot" just after its dot
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.NAME and not keyword.iskeyword(tok.string):
                if state == "dot":
                    runs[-1][1].append(tok.string)
                else:
                    runs.append((tok.start[0], [tok.string]))
                state = "name"
            elif tok.type not in (tokenize.NL, tokenize.COMMENT):
                state = "dot" if state == "name" and tok.string == "." else None
    except (tokenize.TokenError, SyntaxError):
        pass
    return runs


def forbidden_uses(answer: str, forbids: Iterable[str], context: Iterable[str] = ()) -> list[ForbiddenUse]:
    """Every reference in ``answer`` to a name that ``forbids`` rules out.

    Args:
        answer: Source of the answer cell; a cell that does not parse is scanned token by token.
        forbids: Dotted names; a name forbids itself and everything under it ("torchvision.ops"
            forbids torchvision.ops.nms), and ``ALIASES`` adds other spellings of the same function.
            ``"for"`` and ``"while"`` forbid loops (see :data:`LOOPS`); a cell that does not parse is not
            searched for them.
        context: Sources of the notebook's other code cells, whose module-level imports and simple
            alias assignments define names the answer cell may use; one that does not parse is skipped.

    Returns:
        The findings, sorted by line, each (line, name) once.
    """
    loops = [entry for entry in forbids if entry in LOOPS]
    patterns, found = _patterns(e for e in forbids if e not in LOOPS), dict[tuple[int, str], ForbiddenUse]()

    def check(line: int, text: str, names: set[str]) -> bool:
        """Record the forbidden entries that ``names`` fall under; whether there was one."""
        entries = {patterns[max(hits, key=len)] for n in names if (hits := [p for p in patterns if _under(n, p)])}
        for entry in entries:
            found.setdefault((line, entry), ForbiddenUse(entry, line, " ".join(text.split())))
        return bool(entries)

    def opaque(node: ast.AST, text: str) -> None:
        found.setdefault((node.lineno, OPAQUE), ForbiddenUse(OPAQUE, node.lineno, " ".join(text.split())))

    def reported(node: ast.AST) -> bool:
        """Check one node; whether it is a forbidden name (whose parts then need no check)."""
        if isinstance(node, ast.Import):
            for a in node.names:
                check(a.lineno, f"import {a.name}", {a.name})
                if not _installed(a.name):
                    opaque(node, f"import {a.name}")
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:  # a star import is reported when its module holds a forbidden name
                names = {p for p in patterns if _under(p, node.module)} if a.name == "*" else set()
                check(a.lineno, f"from {node.module} import {a.name}", names | {f"{node.module}.{a.name}"})
            if not _installed(node.module):
                opaque(node, f"from {node.module} import ...")
        elif isinstance(node, ast.Attribute) and node.attr in _OPAQUE_ATTRIBUTES:
            opaque(node, ast.get_source_segment(code, node) or node.attr)
        elif isinstance(node, ast.Call) and _run_time_lookup(node, env, patterns):
            opaque(node, ast.get_source_segment(code, node) or "")
        if isinstance(node, (ast.Name, ast.Attribute, ast.Subscript, ast.Call)) and not isinstance(
                getattr(node, "ctx", None), (ast.Store, ast.Del)):
            return check(node.lineno, ast.get_source_segment(code, node) or "", _resolve(node, env))
        return False

    bindings: list[ast.AST] = []
    for cell in context:
        tree = _parse(cell)[0]
        bindings += [s for s in _module_level(tree.body) if isinstance(s, _BINDINGS)] if tree else []
    tree, code, magics = _parse(answer)
    nodes = list(ast.walk(tree)) if tree else []
    bindings += sorted((n for n in nodes if isinstance(n, _BINDINGS)), key=lambda n: (n.lineno, n.col_offset))
    env: Env = {}
    for node in bindings * 2:  # twice, so a binding may use one made further down
        _bind(node, env)
    stack = [tree] if tree else []
    while stack:  # outer nodes first: ``F.conv2d`` is reported, and its ``F`` not checked again
        node = stack.pop()
        stack += [] if reported(node) else reversed(list(ast.iter_child_nodes(node)))
    for node in nodes:
        for entry in loops:
            if isinstance(node, LOOPS[entry]):
                what = "a comprehension" if isinstance(node, ast.comprehension) else f"a {entry} loop"
                line = getattr(node, "lineno", None) or node.target.lineno
                found.setdefault((line, entry), ForbiddenUse(entry, line, what))
    for line, parts in _dotted_runs(magics if tree else answer):  # code in magics, or a broken cell
        heads = {parts[0]} | env.get(parts[0], set())
        for k in range(len(parts), 0, -1):  # longest spelling first, as above
            if check(line, ".".join(parts[:k]), {".".join([head, *parts[1:k]]) for head in heads}):
                break
    return sorted(found.values(), key=lambda u: (u.line, u.name))


def _chain(node: ast.AST) -> str | None:
    """``a.b.c`` for an attribute chain on a name, else None."""
    if isinstance(node, ast.Attribute):
        base = _chain(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else None


@functools.lru_cache(maxsize=4096)
def _names(source: str) -> tuple[frozenset[str], frozenset[str]]:
    """``(binds, uses)`` of a cell: the globals it binds other than by import (``def``, ``class``, an
    assignment, a ``global`` declared in a function, an attribute set on a global: ``torch.mine = f``,
    ``setattr(torch, "mine", f)``), and the globals and attribute chains its code refers to in any scope."""
    code = _parse(source)[1]
    try:
        top, tree = symtable.symtable(code, "<cell>", "exec"), ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return frozenset(), frozenset()
    binds = {s.get_name() for s in top.get_symbols() if s.is_assigned() and not s.is_imported()}
    uses = {s.get_name() for s in top.get_symbols() if s.is_referenced()}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and (chain := _chain(node)):
            (binds if isinstance(node.ctx, ast.Store) else uses).add(chain)
        elif (isinstance(node, ast.Call) and _chain(node.func) == "setattr" and len(node.args) > 1
              and (base := _chain(node.args[0])) and (attr := _const_str(node.args[1]))):
            binds.add(f"{base}.{attr}")
        elif isinstance(node, ast.Call) and _chain(node.func) in ANY_BINDING:
            binds.add("*")  # may bind any name: reached from every exercise, and read by forbidden_uses
    scopes = list(top.get_children())
    while scopes:
        scope = scopes.pop()
        scopes += scope.get_children()
        for sym in scope.get_symbols():
            if sym.is_global():
                uses |= {sym.get_name()} if sym.is_referenced() else set()
                binds |= {sym.get_name()} if sym.is_declared_global() and sym.is_assigned() else set()
    return frozenset(binds), frozenset(uses)


def reaching_cells(sources: list[str], answer: int | None, name: str, own: set[int]) -> list[int]:
    """The code cells whose code may run when the exercise's function ``name`` is called.

    They are its answer cell (index ``answer`` in ``sources``, None if the student deleted it), every cell
    of ``own`` (those the student wrote or changed) that binds ``name`` or an attribute of it (its
    ``__code__`` swapped), every cell of ``own`` that may bind any name (:data:`ANY_BINDING`), and, again
    and again, every cell of ``own`` that binds a global or an attribute one of them refers to: a helper
    defined in a cell of its own, the function redefined further down, ``torch.mine = helper``. Binding by
    import is left out: :func:`forbidden_uses` follows a cell's imports through its context already, and
    an honest cell that compares the answer with the library call it forbids binds nothing the answer
    uses.
    """
    names = {i: _names(sources[i]) for i in own | ({answer} if answer is not None else set())}
    reached = {i for i in own if any(b == name or b.startswith(f"{name}.") or b == "*" for b in names[i][0])}
    reached |= {answer} if answer is not None else set()
    todo = list(reached)
    while todo:
        uses = names[todo.pop()][1]
        for i in own - reached:
            if names[i][0] & uses:
                reached.add(i)
                todo.append(i)
    return sorted(reached)


def tampering(source: str, context: Iterable[str] = ()) -> list[ForbiddenUse]:
    """Every place where the cell ``source`` changes the course's library (:data:`COURSE_LIBRARY`), the
    checks' machinery: an attribute or item set or deleted on anything imported from it or made by it
    (``course_utils.grading.run_case = f``, ``CHECK._run = f``, ``setattr(g, "run_case", f)``).

    ``context`` holds the notebook's other code cells, whose imports and assignments say what a name means.
    """
    env: Env = {}
    nodes = []
    for cell in [*context, source]:
        tree = _parse(cell)[0]
        found = list(ast.walk(tree)) if tree else []
        for node in found:
            if isinstance(node, _BINDINGS):
                _bind(node, env)
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):  # a Checker it made
                made = {f"{f}()" for f in _resolve(node.value.func, env)
                        if _under(f, COURSE_LIBRARY) and f.endswith(".Checker")}
                for target in node.targets:
                    if isinstance(target, ast.Name) and made:
                        env.setdefault(target.id, set()).update(made)
        nodes = found  # the last cell's: the one looked at
    code = _parse(source)[1]
    uses = []
    for node in nodes:
        target = None
        if isinstance(node, (ast.Attribute, ast.Subscript)) and isinstance(node.ctx, (ast.Store, ast.Del)):
            target = node.value
        elif isinstance(node, ast.Call) and _resolve(node.func, env) & {"setattr", "delattr"} and node.args:
            target = node.args[0]
        if target is not None and any(_under(n, COURSE_LIBRARY) for n in _resolve(target, env)):
            text = ast.get_source_segment(code, node) or ""
            uses.append(ForbiddenUse(TAMPERING, node.lineno, " ".join(text.split())[:80]))
    return uses
