"""The mutants of one Python module: small changes to its syntax tree, each one a plausible slip.

Operators (each mutant applies exactly one):

* ``<`` to ``<=`` and back, ``>`` to ``>=`` and back, ``==``/``!=``, ``in``/``not in``, ``is``/``is not``;
* ``and`` to ``or`` and back; ``not x`` to ``x``;
* ``+``/``-``, ``*``/``/``, ``//`` to ``*``, ``|``/``&``;
* a number ``n`` to ``n + 1`` and ``n - 1``; ``True``/``False``;
* one element left out of a list, tuple or set literal, or one entry out of a dict literal, where
  that element or key is a constant (a permission name out of a role's set, ``"*"`` out of
  ``("*", needed)``, a period out of ``HIDDEN_FOR``);
* ``return value`` to ``return None``;
* one statement removed in a function body (a call, an assignment, a ``raise``).

Where: inside functions and methods, and in the module's top-level assignments (the constants
and tables). Not mutated: docstrings, annotations, decorators and default values (evaluated once
at import), class bodies outside their methods (model columns, dataclass fields), strings, and
calls on a logger (``log.info(...)``: what a log line says is not behaviour a test reads).

A mutant is named by its module, its operator and the text of its line (not the line number), so
a list of equivalent mutants survives edits elsewhere in the file.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass

COMPARISONS: dict[type[ast.cmpop], tuple[type[ast.cmpop], str]] = {
    ast.Lt: (ast.LtE, "< to <="),
    ast.LtE: (ast.Lt, "<= to <"),
    ast.Gt: (ast.GtE, "> to >="),
    ast.GtE: (ast.Gt, ">= to >"),
    ast.Eq: (ast.NotEq, "== to !="),
    ast.NotEq: (ast.Eq, "!= to =="),
    ast.In: (ast.NotIn, "in to not in"),
    ast.NotIn: (ast.In, "not in to in"),
    ast.Is: (ast.IsNot, "is to is not"),
    ast.IsNot: (ast.Is, "is not to is"),
}
ARITHMETIC: dict[type[ast.operator], tuple[type[ast.operator], str]] = {
    ast.Add: (ast.Sub, "+ to -"),
    ast.Sub: (ast.Add, "- to +"),
    ast.Mult: (ast.Div, "* to /"),
    ast.Div: (ast.Mult, "/ to *"),
    ast.FloorDiv: (ast.Mult, "// to *"),
    ast.BitOr: (ast.BitAnd, "| to &"),
    ast.BitAnd: (ast.BitOr, "& to |"),
}
LOGGER_NAMES = frozenset({"log", "logger", "logging"})


@dataclass(frozen=True)
class Mutant:
    """One change: node ``ordinal`` (its place in ``ast.walk`` order) changed by ``operator``."""

    path: str
    ordinal: int
    variant: int
    operator: str
    line: int
    end_line: int
    statement_line: int
    text: str  # the stripped source line, for people and for the list of equivalent mutants
    function: str | None  # qualified name of the outermost function holding it; None at top level
    top_index: int  # which top-level statement holds it
    nth: int = 1  # the same change on the same line text again (the second ``.get(x, 0)`` of a line)

    @property
    def key(self) -> str:
        operator = self.operator if self.nth == 1 else f"{self.operator} (#{self.nth})"
        return f"{self.path} | {operator} | {self.text}"

    def describe(self) -> str:
        where = self.function or "module level"
        operator = self.operator if self.nth == 1 else f"{self.operator} (#{self.nth})"
        return f"{self.path}:{self.line} ({where}) {operator}: {self.text}"


def _docstring_nodes(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0]))
    return found


def _is_logger_call(node: ast.AST) -> bool:
    call = node.value if isinstance(node, ast.Expr) else node
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Attribute):
        return False
    owner = call.func.value
    return isinstance(owner, ast.Name) and owner.id in LOGGER_NAMES


def _is_none(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _variants(node: ast.AST, removable: bool) -> Iterator[tuple[int, str]]:
    """(variant, operator) of every change this one node allows."""
    if isinstance(node, ast.Compare):
        for index, op in enumerate(node.ops):
            swap = COMPARISONS.get(type(op))
            if swap:
                yield index, swap[1]
    elif isinstance(node, ast.BoolOp):
        yield 0, "and to or" if isinstance(node.op, ast.And) else "or to and"
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield 0, "not x to x"
    elif isinstance(node, ast.BinOp) and type(node.op) in ARITHMETIC:
        yield 0, ARITHMETIC[type(node.op)][1]
    elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
        yield 0, f"{node.value} to {not node.value}"
    elif isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        yield 0, f"{node.value!r} to {node.value + 1!r}"
        yield 1, f"{node.value!r} to {node.value - 1!r}"
    elif isinstance(node, ast.List | ast.Tuple | ast.Set) and not isinstance(getattr(node, "ctx", None), ast.Store):
        for index, element in enumerate(node.elts):
            if isinstance(element, ast.Constant):
                yield index, f"leave out {element.value!r}"
    elif isinstance(node, ast.Dict):
        for index, key in enumerate(node.keys):
            if isinstance(key, ast.Constant):
                yield index, f"leave out the entry {key.value!r}"
    elif isinstance(node, ast.Return) and node.value is not None and not _is_none(node.value):
        yield 0, "return None"
    if removable:
        yield 100, "remove the statement"


def find_mutants(path: str, source: str) -> list[Mutant]:
    tree = ast.parse(source)
    lines = source.splitlines()
    ordinals = {id(node): index for index, node in enumerate(ast.walk(tree))}
    skip = _docstring_nodes(tree)
    found: list[Mutant] = []

    def add(node: ast.AST, statement: ast.AST, function: str | None, top_index: int, removable: bool) -> None:
        for variant, operator in _variants(node, removable):
            line = getattr(node, "lineno", statement.lineno)
            if operator.startswith("leave out"):  # name the element's own line
                elements = node.keys if isinstance(node, ast.Dict) else node.elts  # type: ignore[attr-defined]
                line = elements[variant].lineno
            found.append(
                Mutant(
                    path=path,
                    ordinal=ordinals[id(node)],
                    variant=variant,
                    operator=operator,
                    line=line,
                    end_line=getattr(node, "end_lineno", line) or line,
                    statement_line=statement.lineno,
                    text=lines[line - 1].strip(),
                    function=function,
                    top_index=top_index,
                )
            )

    def visit(node: ast.AST, statement: ast.AST, function: str | None, qualname: str, top_index: int) -> None:
        if id(node) in skip or _is_logger_call(node):
            return
        if isinstance(node, ast.stmt):
            statement = node
            removable = function is not None and isinstance(node, ast.Expr | ast.Assign | ast.AugAssign | ast.Raise)
            add(node, node, function, top_index, removable)
        elif function is not None or top_level_assignment:
            add(node, statement, function, top_index, False)
        for field, value in ast.iter_fields(node):
            if field in ("annotation", "returns", "decorator_list", "args", "type_params") and not isinstance(
                node, ast.Call | ast.Lambda
            ):
                continue
            children = value if isinstance(value, list) else [value]
            for child in children:
                if not isinstance(child, ast.AST):
                    continue
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                    name = f"{qualname}.{child.name}" if qualname else child.name
                    visit(child, child, function or name, name, top_index)
                elif isinstance(child, ast.ClassDef):
                    name = f"{qualname}.{child.name}" if qualname else child.name
                    for item in child.body:  # only its methods: class attributes are not mutated
                        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                            visit(item, item, function or f"{name}.{item.name}", f"{name}.{item.name}", top_index)
                elif function is not None or top_level_assignment:
                    visit(child, statement, function, qualname, top_index)

    top_level_assignment = False
    for index, statement in enumerate(tree.body):
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
            visit(statement, statement, statement.name, statement.name, index)
        elif isinstance(statement, ast.ClassDef):
            for item in statement.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    name = f"{statement.name}.{item.name}"
                    visit(item, item, name, name, index)
        elif isinstance(statement, ast.Assign | ast.AnnAssign) and statement.value is not None:
            top_level_assignment = True
            visit(statement.value, statement, None, "", index)
            top_level_assignment = False
    seen: dict[tuple[str, str], int] = {}
    numbered = []
    for mutant in found:
        seen[(mutant.operator, mutant.text)] = nth = seen.get((mutant.operator, mutant.text), 0) + 1
        numbered.append(dataclasses.replace(mutant, nth=nth))
    return numbered


def _parents(tree: ast.AST) -> dict[int, ast.AST]:
    return {id(child): parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}


def apply(source: str, mutant: Mutant) -> ast.Module:
    """The module's tree with ``mutant`` applied."""
    tree = ast.parse(source)
    nodes = list(ast.walk(tree))
    node = nodes[mutant.ordinal]
    variant = mutant.variant
    if variant == 100:
        _replace_child(_parents(tree)[id(node)], node, ast.copy_location(ast.Pass(), node))
    elif isinstance(node, ast.Compare):
        node.ops[variant] = COMPARISONS[type(node.ops[variant])][0]()
    elif isinstance(node, ast.BoolOp):
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif isinstance(node, ast.UnaryOp):
        parent = _parents(tree)[id(node)]
        _replace_child(parent, node, node.operand)
    elif isinstance(node, ast.BinOp):
        node.op = ARITHMETIC[type(node.op)][0]()
    elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
        node.value = not node.value
    elif isinstance(node, ast.Constant):
        node.value = node.value + 1 if variant == 0 else node.value - 1
    elif isinstance(node, ast.List | ast.Tuple | ast.Set):
        del node.elts[variant]
        if isinstance(node, ast.Set) and not node.elts:  # {} would be a dict: an empty set is set()
            parent = _parents(tree)[id(node)]
            empty = ast.Call(func=ast.Name(id="set", ctx=ast.Load()), args=[], keywords=[])
            _replace_child(parent, node, ast.copy_location(empty, node))
    elif isinstance(node, ast.Dict):
        del node.keys[variant]
        del node.values[variant]
    elif isinstance(node, ast.Return):
        node.value = ast.copy_location(ast.Constant(value=None), node.value)
    ast.fix_missing_locations(tree)
    return tree


def _replace_child(parent: ast.AST, old: ast.AST, new: ast.AST) -> None:
    for field, value in ast.iter_fields(parent):
        if value is old:
            setattr(parent, field, new)
            return
        if isinstance(value, list):
            for index, item in enumerate(value):
                if item is old:
                    value[index] = new
                    return
    raise LookupError("node not found under its parent")
