"""A small PromQL reader for tests: which series an expression selects, how, and which labels it uses.

Prometheus rules and Grafana panels are checked against the metric catalog with it. It is not a
parser: promtool checks the syntax of rules, and Grafana queries are not run here. It finds each
series selector with its matchers, the functions and aggregations around it and whether it is a
range vector, the labels of ``by``/``without``/``on``/``ignoring``/``group_left``/``group_right``,
and the mistakes that make those unreadable (a selector without a metric name, unbalanced
brackets). Grafana variables (``$pilot_zone``, ``${__range}``) read as values.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from pilotzone.pipelines.metrics.catalog import BY_NAME, COUNTER, HISTOGRAM

_TOKEN = re.compile(
    r"""(?P<space>\s+)
    |(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
    |(?P<number>(?:0x[0-9a-fA-F]+|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)(?:(?:ms|[smhdwy])\d*)*)
    |(?P<ident>[A-Za-z_:][\w:]*)
    |(?P<variable>\$\{?\w+\}?)
    |(?P<op>=~|!~|!=|==|<=|>=|[-+*/%^<>=@])
    |(?P<punct>[(){}\[\],])""",
    re.VERBOSE,
)
_GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_KEYWORDS = {"and", "or", "unless", "atan2", "bool", "offset", "inf", "nan", *_GROUPING}
_AGGREGATIONS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile", "limitk", "limit_ratio",
}  # fmt: skip
_MATCH_OPS = {"=", "!=", "=~", "!~"}
HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")


@dataclass(frozen=True)
class Selector:
    """One series selector: name, matchers ``(label, op, value)``, and how it is read."""

    name: str
    matchers: tuple[tuple[str, str, str], ...]
    calls: tuple[str, ...]
    """The functions and aggregations it is inside, outermost first."""
    call: str | None
    """The one it is a direct argument of (None at top level or inside plain parentheses)."""
    range_vector: bool

    @property
    def matcher_labels(self) -> list[str]:
        return [label for label, _, _ in self.matchers]

    @property
    def rated(self) -> bool:
        """Read as a range vector by rate() or increase(), the way a counter must be read."""
        return self.call in {"rate", "increase"} and self.range_vector


@dataclass
class Reading:
    selectors: list[Selector] = field(default_factory=list)
    grouping_labels: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def tokens(expr: str) -> list[tuple[str, str]]:
    """``(kind, text)`` of each token but spaces; ValueError at text no token starts."""
    found, position = [], 0
    while position < len(expr):
        match = _TOKEN.match(expr, position)
        if match is None:
            raise ValueError(f"cannot read {expr[position:]!r} in {expr!r}")
        if match.lastgroup != "space":
            found.append((match.lastgroup or "", match.group()))
        position = match.end()
    return found


def _unquote(text: str) -> str:
    return str(json.loads(text)) if text.startswith('"') else text[1:-1]


def read(expr: str) -> Reading:
    """Series selectors, grouping labels and the errors that kept parts of ``expr`` unread."""
    reading = Reading()
    try:
        toks = tokens(expr)
    except ValueError as error:
        reading.errors.append(str(error))
        return reading

    def closing(index: int, bracket: str) -> int:
        """Where the ``bracket`` closing the one at ``index`` is (the end if there is none)."""
        if ("punct", bracket) in toks[index:]:
            return toks.index(("punct", bracket), index)
        reading.errors.append(f"no {bracket!r} closes {toks[index][1]!r} in {expr!r}")
        return len(toks)

    frames: list[tuple[str, str]] = []  # ("call", function) | ("labels", keyword) | ("paren", "")
    pending_aggregation: str | None = None
    index = 0
    while index < len(toks):
        kind, text = toks[index]
        following = toks[index + 1][1] if index + 1 < len(toks) else ""
        previous = toks[index - 1] if index else ("", "")
        if text == "[":
            index = closing(index, "]")
        elif text == "{":
            reading.errors.append(f"selector without a metric name in {expr!r}")
            index = closing(index, "}")
        elif text == "(":
            if previous[0] == "ident" and previous[1] in _GROUPING:
                frames.append(("labels", previous[1]))
            elif previous[0] == "ident" and previous[1].lower() not in _KEYWORDS:
                frames.append(("call", previous[1]))
            elif pending_aggregation and previous[1] == ")":
                frames.append(("call", pending_aggregation))
                pending_aggregation = None
            else:
                frames.append(("paren", ""))
        elif text == ")":
            if frames:
                frames.pop()
            else:
                reading.errors.append(f"unbalanced parentheses in {expr!r}")
        elif kind == "ident" and frames and frames[-1][0] == "labels":
            reading.grouping_labels.append(text)
        elif kind == "ident" and text in _AGGREGATIONS and following in {"by", "without"}:
            pending_aggregation = text
        elif kind == "ident" and text.lower() not in _KEYWORDS and following != "(":
            end, matchers = index, []
            if following == "{":
                end = closing(index + 1, "}")
                inside = [token for token in toks[index + 2 : end] if token != ("punct", ",")]
                for start in range(0, len(inside), 3):
                    matcher = inside[start : start + 3]
                    if [k for k, _ in matcher] != ["ident", "op", "string"] or matcher[1][
                        1
                    ] not in _MATCH_OPS:
                        reading.errors.append(f"cannot read the matchers of {text} in {expr!r}")
                        break
                    (_, label), (_, op), (_, value) = matcher
                    matchers.append((label, op, _unquote(value)))
            after = toks[end + 1][1] if end + 1 < len(toks) else ""
            calls = tuple(name for frame, name in frames if frame == "call")
            call = frames[-1][1] if frames and frames[-1][0] == "call" else None
            reading.selectors.append(Selector(text, tuple(matchers), calls, call, after == "["))
            index = end
        index += 1
    if frames:
        reading.errors.append(f"unbalanced parentheses in {expr!r}")
    return reading


def assert_reported(found: list[str], starts: list[str]) -> None:
    """``found`` (errors or problems) is one report per entry of ``starts``, each beginning with it."""
    assert len(found) == len(starts), found
    for report, start in zip(found, starts, strict=True):
        assert report.startswith(start), found


# --- The catalog's series ----------------------------------------------------------------------


def catalog_labels(name: str) -> tuple[str, ...] | None:
    """Labels of a series the catalog defines (histograms through ``_bucket/_sum/_count``)."""
    spec = BY_NAME.get(name)
    if spec is not None and spec.type != HISTOGRAM:
        return spec.labels
    for suffix in HISTOGRAM_SERIES:
        spec = BY_NAME.get(name.removesuffix(suffix))
        if name.endswith(suffix) and spec is not None and spec.type == HISTOGRAM:
            return (*spec.labels, "le") if suffix == "_bucket" else spec.labels
    return None


def is_counter(name: str) -> bool:
    """Catalog counters, and the series of catalog histograms, which are cumulative too."""
    spec = BY_NAME.get(name)
    return (spec is not None and spec.type == COUNTER) or (spec is None and catalog_labels(name) is not None)
