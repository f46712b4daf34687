"""Cost and condition expressions of the catalog: checked, compiled once, evaluated.

An expression is plain arithmetic over parameter names (``"exit_us + 0.002 * size_bytes"``):
numbers, names, ``+ - * / **``, comparisons, ``and/or/not``, ``min(...)`` and ``max(...)``.
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
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as exc:
        raise CatalogError(f"expression {expr!r} is not valid: {exc.msg}") from None
    names = set()
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise CatalogError(f"expression {expr!r}: {type(node).__name__} is not allowed "
                               "(only arithmetic, comparisons, and/or/not, min, max)")
        if isinstance(node, ast.Call):
            if not (isinstance(node.func, ast.Name) and node.func.id in FUNCS) or node.keywords:
                raise CatalogError(f"expression {expr!r}: only min(...) and max(...) may be called")
        elif isinstance(node, ast.Name) and node.id not in FUNCS:
            names.add(node.id)
        elif isinstance(node, ast.Constant) and not isinstance(node.value, int | float | bool):
            raise CatalogError(f"expression {expr!r}: constant {node.value!r} is not a number")
    return compile(tree, "<iovmodel expression>", "eval"), frozenset(names)


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
    # AST checked by compile_expr: no attribute access, no calls but min/max, no builtins
    return eval(code, {"__builtins__": {}, **(funcs or FUNCS)}, env)  # noqa: S307
