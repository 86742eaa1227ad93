"""The shape expressions a ``.pt2`` may hold, checked by a grammar before sympy sees them.

``torch.export.load`` hands every ``expr_str`` in the graph to ``sympy.sympify``, which evaluates
it: a name or character check lets ``Symbol('s0')*10**10**10`` through, and sympy then computes
an integer of ten billion digits (100% CPU without end). Each expression is parsed here as a
Python expression (``ast``, no evaluation) and accepted only if it is small arithmetic on
symbols: known sympy constructors, integer literals of at most 64 bits, and powers whose
exponent is a literal of at most ``MAX_EXPONENT`` on a base that holds no power. Those bounds
cap every number sympy can build at a few thousand bits, so parsing a file's expressions takes
time proportional to its size.
"""

from __future__ import annotations

import ast
import re

MAX_EXPR_CHARS = 4000
MAX_EXPR_NODES = 400
MAX_EXPONENT = 64
MAX_LITERAL = 2**64

# What torch writes (sympy's srepr and str forms of shape arithmetic, relations and guards).
NAMES = {
    "Symbol", "Integer", "Rational", "Add", "Mul", "Pow", "Max", "Min", "Abs", "oo",
    "Eq", "Ne", "Lt", "Le", "Gt", "Ge", "StrictLessThan", "LessThan", "StrictGreaterThan",
    "GreaterThan", "And", "Or", "Not", "FloorDiv", "Mod", "PythonMod", "CleanDiv", "CeilToInt",
    "ModularIndexing", "Where", "IntTrueDiv", "FloorToInt", "TruncToInt", "True", "False",
}  # fmt: skip
ASSUMPTIONS = {"positive", "integer", "nonnegative", "real", "finite"}
_SYMBOL = re.compile(r"[su]\d{1,9}")
_OPS = (
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.USub, ast.UAdd,
    ast.Not, ast.And, ast.Or, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE,
)  # fmt: skip
_NODES = (
    ast.Expression, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.Call, ast.Name,
    ast.Constant, ast.keyword, ast.Load, *_OPS,
)  # fmt: skip


def _literal(node: ast.AST) -> int | None:
    """The integer a literal (``3``, ``-3``, ``Integer(3)``) stands for, else None."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _literal(node.operand)
        return None if inner is None else -inner
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and len(node.args) == 1:
        return _literal(node.args[0]) if node.func.id == "Integer" else None
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    return None


def _has_power(node: ast.AST) -> bool:
    return any(
        (isinstance(n, ast.BinOp) and isinstance(n.op, ast.Pow))
        or (isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "Pow")
        for n in ast.walk(node)
    )


def _check_power(base: ast.AST, exponent: ast.AST) -> str | None:
    value = _literal(exponent)
    if value is None or abs(value) > MAX_EXPONENT:
        return f"a power whose exponent is not an integer of at most {MAX_EXPONENT}"
    if _has_power(base):
        return "a power of a power"
    return None


def _check_node(node: ast.AST) -> str | None:
    """Why one node is not small shape arithmetic, or None."""
    if not isinstance(node, _NODES):
        return f"Python syntax {type(node).__name__}"
    if isinstance(node, ast.Name) and node.id not in NAMES | ASSUMPTIONS:
        return None if _SYMBOL.fullmatch(node.id) else f"the name '{node.id[:40]}'"
    if isinstance(node, ast.Constant):
        v = node.value
        if type(v) is int and abs(v) > MAX_LITERAL:
            return f"an integer over {MAX_LITERAL}"
        if type(v) is str and not _SYMBOL.fullmatch(v):
            return f"the symbol name '{v[:40]}'"
        if type(v) not in (int, str, bool):
            return f"the constant {type(v).__name__}"
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in NAMES:
            return "a call of something that is not a sympy constructor"
        if any(k.arg not in ASSUMPTIONS for k in node.keywords):
            return "a keyword argument that is not an assumption"
        if node.func.id == "Pow":
            return _check_power(*node.args) if len(node.args) == 2 else "a malformed Pow"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        return _check_power(node.left, node.right)
    return None


def expression_problem(text: str) -> str | None:
    """Why ``text`` is not a shape expression torch may hand to sympy, or None when it is."""
    if len(text) > MAX_EXPR_CHARS:
        return f"it is over {MAX_EXPR_CHARS} characters"
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return "it is not an expression"
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_EXPR_NODES:
        return f"it has over {MAX_EXPR_NODES} parts"
    for node in nodes:
        problem = _check_node(node)
        if problem is not None:
            return f"it holds {problem}"
    return None
