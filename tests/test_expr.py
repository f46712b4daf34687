"""The safe expression evaluator (iovmodel._expr): values by hand, refusals by construct."""

import math

import pytest
import sympy as sp

from iovmodel._expr import compile_expr, evaluate
from iovmodel.errors import CatalogError


@pytest.mark.parametrize(("expr", "env", "want"), [
    ("exit_us + 0.002 * size_bytes", {"exit_us": 1.5, "size_bytes": 4096}, 1.5 + 8.192),
    ("max(a, b) - min(a, b)", {"a": 2.0, "b": 7.0}, 5.0),
    ("a ** 2 / 4", {"a": 3.0}, 2.25),
])
def test_values_by_hand(expr, env, want):
    assert evaluate(expr, env) == pytest.approx(want, rel=1e-15)


def test_numbers_pass_through_as_float():
    assert evaluate(3, {}) == 3.0 and isinstance(evaluate(3, {}), float)


def test_conditions_and_names():
    code, names = compile_expr("workers > 1 and not polling")
    assert names == frozenset({"workers", "polling"})
    assert evaluate("workers > 1 and not polling", {"workers": 2, "polling": False}) is True


@pytest.mark.parametrize("expr", [
    "__import__('os')",            # a call to something but min/max
    "a.real",                      # attribute access
    "a[0]",                        # subscript
    "(lambda: 1)()",               # lambda
    "'x'",                         # a string constant
    "max(a, key=b)",               # keywords
    "1 if a else 2",               # conditional expression
    "a +",                         # syntax error
])
def test_refused_before_evaluation(expr):
    with pytest.raises(CatalogError, match="expression"):
        compile_expr(expr)


def test_no_builtins_reachable():
    # a name that is a builtin elsewhere is just an unknown name here
    with pytest.raises(NameError):
        evaluate("abs", {})


def test_symbolic_functions():
    x, y = sp.symbols("x y", positive=True)
    got = evaluate("max(x, y) + 2 * x", {"x": x, "y": y}, funcs={"min": sp.Min, "max": sp.Max})
    assert sp.simplify(got - (sp.Max(x, y) + 2 * x)) == 0
    assert math.isclose(float(got.subs({x: 1, y: 3})), 5.0)


def test_compile_many_gives_each_expression_its_own_value():
    # one eval for a whole route: every element as evaluate computes it alone, bit for bit
    from iovmodel._expr import compile_many, evaluate, scope

    exprs = ("exit_us + 0.002 * size_bytes", 3, "x ** 0.5 / 3", "min(x, 2) * (aio == 'threads')",
             0.1 + 0.2)
    env = {"exit_us": 0.7, "size_bytes": 4096, "x": 7.3, "aio": "threads"}
    got = eval(compile_many(exprs), scope(env))  # noqa: S307
    assert got == tuple(evaluate(e, env) for e in exprs)
    with pytest.raises(CatalogError):
        compile_many(("exit_us", "__import__('os')"))
