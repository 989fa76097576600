"""Search spaces: lists and distributions of hyperparameter values, and sampling from them.

A value of a model's params is a search space when it is a list (every value, or one drawn at
random) or a distribution written as a call::

    C: loguniform(1e-3, 1e2)        # scipy.stats.loguniform(a, b)
    alpha: uniform(0, 1)            # a <= x <= b (scipy.stats.uniform(a, b - a))
    max_leaf_nodes: randint(8, 64)  # integers a <= x < b (scipy.stats.randint(a, b))
    criterion: choice(gini, entropy)  # one of the values, like a list

Sampling follows scikit-learn's :class:`~sklearn.model_selection.ParameterSampler` (that class
samples a single model's space, so a one-model spec draws exactly the candidates
``HalvingRandomSearchCV`` and ``RandomizedSearchCV`` draw with the same seed).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any

from .algorithm import ParamError

DISTRIBUTIONS = ("uniform", "loguniform", "randint", "choice")
_CALL = re.compile(r"^\s*(?P<name>[a-z_]+)\s*\((?P<args>.*)\)\s*$", re.S)
# an unquoted call in YAML (``{C: loguniform(1e-3, 1e2)}``): its commas would split a flow mapping
_NAMES = "|".join(DISTRIBUTIONS)
_UNQUOTED_CALL = re.compile(rf"(?<![\"'\w])(?P<call>(?:{_NAMES})\([^()\n]*\))")


@dataclass(frozen=True)
class Distribution:
    """A distribution of one hyperparameter, as written (``text``) and parsed."""

    kind: str  # uniform | loguniform | randint | choice
    args: tuple
    text: str

    def scipy(self):
        """The object :class:`ParameterSampler` samples (``rvs``), or the list of a ``choice``."""
        from scipy import stats

        a, *rest = self.args if self.args else (None,)
        if self.kind == "uniform":
            return stats.uniform(a, rest[0] - a)
        if self.kind == "loguniform":
            return stats.loguniform(a, rest[0])
        if self.kind == "randint":
            return stats.randint(a, rest[0])
        return list(self.args)

    def edges(self) -> list:
        """The values a parameter's constraints are checked on (bounds, or every choice)."""
        if self.kind == "randint":
            return [self.args[0], self.args[1] - 1]
        return list(self.args)


def quote_calls(text: str) -> str:
    """YAML text with every unquoted distribution call quoted, so that flow mappings keep it whole.

    Lines stay where they are (nothing is added but quotes), so line numbers of errors still hold.
    """

    def quote(m: re.Match) -> str:
        call = m["call"]
        return '"' + call.replace("\\", "\\\\").replace('"', '\\"') + '"'

    out = []
    for line in text.splitlines(keepends=True):
        code, hash_, comment = line.partition(" #")
        out.append(_UNQUOTED_CALL.sub(quote, code) + hash_ + comment)
    return "".join(out)


def parse_distribution(param: str, value: Any) -> Distribution | None:
    """The distribution ``value`` writes, None when it is not a call; :class:`ParamError` when malformed."""
    if not isinstance(value, str):
        return None
    m = _CALL.match(value)
    if not m:
        return None
    name, args_text = m["name"], m["args"]
    if name not in DISTRIBUTIONS:
        return None
    usage = {
        "uniform": "uniform(low, high)",
        "loguniform": "loguniform(low, high) with 0 < low < high",
        "randint": "randint(low, high): integers low <= x < high",
        "choice": "choice(value, value, ...)",
    }[name]
    if name == "choice":
        args = _choice_args(param, args_text, usage)
        if not args:
            raise ParamError(param, f"{param}: choice() needs at least one value, e.g. {usage}")
        return Distribution(name, tuple(args), value)
    try:
        args = list(ast.literal_eval(f"({args_text},)")) if args_text.strip() else []
    except (ValueError, SyntaxError):
        raise ParamError(param, f"{param}: cannot read {value!r}: write {usage}") from None
    if len(args) != 2 or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args):
        raise ParamError(param, f"{param}: {name} takes two numbers, got {value!r}: write {usage}")
    low, high = args
    if not low < high:
        raise ParamError(param, f"{param}: {value!r} needs low < high: write {usage}")
    if name == "loguniform" and low <= 0:
        raise ParamError(param, f"{param}: {value!r} needs low > 0 (a log scale): write {usage}")
    if name == "randint" and not (isinstance(low, int) and isinstance(high, int)):
        raise ParamError(param, f"{param}: randint takes integers, got {value!r}: write {usage}")
    return Distribution(name, (low, high), value)


def _choice_args(param: str, text: str, usage: str) -> list:
    import yaml

    try:
        values = yaml.safe_load(f"[{text}]") if text.strip() else []
    except yaml.YAMLError:
        raise ParamError(param, f"{param}: cannot read choice({text}): write {usage}") from None
    out = []
    for v in values:
        if isinstance(v, str):
            try:  # YAML 1.1 reads 1e-3 as a string
                v = ast.literal_eval(v)
            except (ValueError, SyntaxError):
                pass
        out.append(v)
    return out


def has_distribution(params: dict) -> str | None:
    """The first parameter written as a distribution (a grid cannot enumerate those), else None."""
    for key, value in params.items():
        if parse_distribution(key, value) is not None:
            return key
    return None


def sample(spaces: list[dict], n: int, seed: int) -> list[tuple[int, dict]]:
    """``n`` draws of (model index, params) from per-model spaces (values: lists or scipy distributions).

    scikit-learn's ``ParameterSampler`` semantics: a model is picked uniformly, then each parameter in
    sorted order (a list uniformly, a distribution by ``rvs``); when every value is a list the draws are
    without replacement (fewer than ``n`` when the grid is smaller). One model draws exactly what
    ``ParameterSampler(space, n, random_state=seed)`` draws.
    """
    from sklearn.model_selection import ParameterSampler

    if len(spaces) == 1:
        return [(0, dict(p)) for p in ParameterSampler(spaces[0], n, random_state=seed)]
    all_lists = all(not hasattr(v, "rvs") for s in spaces for v in s.values())
    marked = [{**s, _MODEL_KEY: [i] if all_lists else _Constant(i)} for i, s in enumerate(spaces)]
    out = []
    for p in ParameterSampler(marked, n, random_state=seed):
        p = dict(p)
        out.append((p.pop(_MODEL_KEY), p))
    return out


_MODEL_KEY = "__stratum_model__"


class _Constant:
    """A 'distribution' that always gives one value and draws nothing from the random state, so that
    marking each model's space does not change the draws of its parameters."""

    def __init__(self, value):
        self.value = value

    def rvs(self, random_state=None):
        return self.value
