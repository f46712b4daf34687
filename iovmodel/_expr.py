"""Cost and condition expressions of the catalog: checked, compiled once, evaluated.

An expression is plain arithmetic over parameter names (``"exit_us + 0.002 * size_bytes"``):
numbers, names, ``+ - * / **``, comparisons, ``and/or/not``, ``min(...)`` and ``max(...)``;
a quoted word only as an operand of a comparison (``"aio == 'threads'"``: word options).
Everything else is refused before anything is evaluated, so ``eval`` only ever sees a tree
that was walked here.  The catalog, the network builder, the symbolic solver and the fit
all evaluate costs through this module.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from functools import lru_cache
from types import CodeType
from typing import Any

from .errors import CatalogError

_ALLOWED_NODES = (
    ast.Expression, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.Name, ast.Load,
    ast.Constant, ast.Call, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.USub, ast.UAdd,
    ast.Not, ast.And, ast.Or, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE,
)
#: the only callables an expression may use; a symbolic caller passes its own (sympy Min/Max)
FUNCS: dict[str, Callable[..., Any]] = {"min": min, "max": max}
#: longest expression accepted (a catalog's longest is under 100 characters)
MAX_LENGTH = 2000
#: deepest expression tree accepted (deeper ones would exhaust the parser's stack)
MAX_DEPTH = 50
_POW = "__iov_pow__"


def _pow(a: Any, b: Any) -> Any:
    """``a ** b`` in floating point: a huge power overflows at once instead of computing a
    ten-billion-digit integer (``10**10**10``); symbolic operands keep their own power."""
    if isinstance(a, int | float) and isinstance(b, int | float):
        if a < 0 and not float(b).is_integer():
            raise ArithmeticError(f"{a!r} ** {b!r} is not a real number")
        return float(a) ** float(b)
    return a ** b


class _PowToCall(ast.NodeTransformer):
    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:  # noqa: N802 (ast's visitor name)
        self.generic_visit(node)
        if isinstance(node.op, ast.Pow):
            call = ast.Call(func=ast.Name(_POW, ast.Load()), args=[node.left, node.right],
                            keywords=[])
            return ast.copy_location(call, node)
        return node


def _depth(node: ast.AST) -> int:
    depth, level = 0, [node]
    while level:  # breadth-first: no recursion on a hostile tree
        depth += 1
        level = [c for n in level for c in ast.iter_child_nodes(n)]
    return depth


@lru_cache(maxsize=4096)
def compile_expr(expr: str) -> tuple[CodeType, frozenset[str]]:
    """Compile a cost/condition expression after checking it is plain arithmetic.

    Parameters
    ----------
    expr : str
        The expression, e.g. ``"exit_us + 0.002 * size_bytes"``.

    Returns
    -------
    code : CodeType
        The compiled expression.
    names : frozenset of str
        The free names it uses (``min`` and ``max`` excluded).

    Raises
    ------
    CatalogError
        If the expression does not parse or uses anything but arithmetic,
        comparisons, ``and/or/not``, ``min`` and ``max``.
    """
    if not isinstance(expr, str):
        raise CatalogError(f"expression must be a string, got {type(expr).__name__} {expr!r}")
    if len(expr) > MAX_LENGTH:
        raise CatalogError(f"expression {expr[:40]!r}... is {len(expr)} characters long; "
                           f"at most {MAX_LENGTH} are accepted")
    try:
        tree = ast.parse(expr, mode="eval")
    except (SyntaxError, RecursionError, MemoryError) as exc:
        msg = getattr(exc, "msg", "nested too deeply")
        raise CatalogError(f"expression {expr[:80]!r} is not valid: {msg}") from None
    if _depth(tree) > MAX_DEPTH:
        raise CatalogError(f"expression {expr[:80]!r} is nested deeper than {MAX_DEPTH} levels")
    names = set()
    # a word (an option's value: aio == 'threads') may only be compared, never computed with
    compared = {id(c) for node in ast.walk(tree) if isinstance(node, ast.Compare)
                for c in (node.left, *node.comparators)}
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise CatalogError(f"expression {expr!r}: {type(node).__name__} is not allowed "
                               "(only arithmetic, comparisons, and/or/not, min, max)")
        if isinstance(node, ast.Call):
            if not (isinstance(node.func, ast.Name) and node.func.id in FUNCS) or node.keywords:
                raise CatalogError(f"expression {expr!r}: only min(...) and max(...) may be called")
        elif isinstance(node, ast.Name) and node.id not in FUNCS:
            names.add(node.id)
        elif isinstance(node, ast.Constant) and not isinstance(node.value, int | float | bool) \
                and not (isinstance(node.value, str) and id(node) in compared):
            raise CatalogError(f"expression {expr!r}: constant {node.value!r} is not a number "
                               "(a quoted word may only be compared: aio == 'threads')")
    tree = ast.fix_missing_locations(_PowToCall().visit(tree))
    return compile(tree, "<iovmodel expression>", "eval"), frozenset(names)


@lru_cache(maxsize=1024)
def compile_many(exprs: tuple[float | str, ...]) -> CodeType:
    """Compile several costs (numbers or expressions) into one code object whose value is
    the tuple of their values: one ``eval`` for a whole route instead of one per cost.

    Each expression is checked by :func:`compile_expr` first (CatalogError as there) and
    keeps its own tree, so every element is computed by the same operations, in the same
    order, as :func:`evaluate` computes it alone: the values are identical. A number
    becomes ``float(number)``, as :func:`evaluate` returns it.
    """
    elts: list[ast.expr] = []
    for e in exprs:
        if isinstance(e, int | float):
            elts.append(ast.Constant(float(e)))
            continue
        compile_expr(e)  # the checks (and their messages)
        tree = _PowToCall().visit(ast.parse(e, mode="eval"))
        elts.append(tree.body)
    whole = ast.fix_missing_locations(ast.Expression(ast.Tuple(elts, ast.Load())))
    return compile(whole, "<iovmodel expressions>", "eval")


def scope(env: Mapping[str, Any]) -> dict[str, Any]:
    """The globals an expression is evaluated in: ``min``, ``max`` and the power helper,
    then ``env``'s names (which win over them, as they do in :func:`evaluate`, where
    ``env`` is the local scope). Build it once and evaluate many expressions in it
    (``eval(code, scope(env))`` or with a small dict of local names over it)."""
    return {"__builtins__": {}, **FUNCS, _POW: _pow, **env}


def evaluate(expr: float | str, env: Mapping[str, Any], *,
             funcs: Mapping[str, Callable[..., Any]] | None = None) -> Any:
    """Evaluate a cost (a number or an expression) in ``env``.

    Parameters
    ----------
    expr : float or str
        A number (returned as ``float``) or an expression accepted by :func:`compile_expr`.
    env : mapping
        Values of the names, e.g. per-event costs in µs and the path's options.
    funcs : mapping, optional
        Replacements for ``min`` and ``max`` (the symbolic solver passes sympy's
        ``Min``/``Max`` and symbols in ``env``); by default Python's.

    Returns
    -------
    float or object
        The value, in the unit of the expression (µs for a hop cost).
    """
    if isinstance(expr, int | float):
        return float(expr)
    code, _ = compile_expr(expr)
    # AST checked by compile_expr: no attribute access, no calls but min/max, no builtins;
    # powers in floating point, so every expression finishes in microseconds
    scope = {"__builtins__": {}, **(funcs or FUNCS), _POW: _pow}
    try:
        return eval(code, scope, env)  # noqa: S307
    except ArithmeticError as exc:  # ZeroDivisionError, OverflowError, a complex power
        raise CatalogError(f"expression {expr!r} cannot be evaluated: {exc}") from None
