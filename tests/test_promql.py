"""The PromQL reader the rule and dashboard checks share: what it finds and what it refuses."""

from __future__ import annotations

import pytest

from tests.promql import Selector, assert_reported, catalog_labels, is_counter, read, tokens


def test_the_reader_finds_selectors_and_how_they_are_read() -> None:
    reading = read(
        'sum by (pilot_zone) (increase(pilotzone_incidents_total{severity="CRITICAL", rule=~"a|b"}[5m]'
        " offset 1m)) / on (pilot_zone) group_left () (max by (pilot_zone) (x:y:z) > 1e6)"
        " and absent(pilotzone_pipeline_running)"
    )
    assert reading.selectors == [
        Selector(
            "pilotzone_incidents_total",
            (("severity", "=", "CRITICAL"), ("rule", "=~", "a|b")),
            ("sum", "increase"),
            "increase",
            True,
        ),
        Selector("x:y:z", (), ("max",), "max", False),
        Selector("pilotzone_pipeline_running", (), ("absent",), "absent", False),
    ]
    assert reading.grouping_labels == ["pilot_zone", "pilot_zone", "pilot_zone"]
    assert reading.errors == []
    assert reading.selectors[0].matcher_labels == ["severity", "rule"]
    assert reading.selectors[0].rated
    assert not reading.selectors[1].rated


@pytest.mark.parametrize(
    ("expr", "calls", "call", "grouping_labels"),
    [
        (
            "histogram_quantile(0.9, sum by (le) (rate(a_bucket[5m])))",
            ("histogram_quantile", "sum", "rate"),
            "rate",
            ["le"],
        ),
        ("sum(rate(a_total[5m])) by (operator)", ("sum", "rate"), "rate", ["operator"]),
        ("topk(3, a) without (rule, kind)", ("topk",), "topk", ["rule", "kind"]),
        ("sum((a))", ("sum",), None, []),
        ("(a) + ignoring (le) group_right (rule) b", (), None, ["le", "rule"]),
        ("max_over_time(timestamp(a)[1h:5m])", ("max_over_time", "timestamp"), "timestamp", []),
    ],
)
def test_the_reader_gives_the_chain_of_calls_around_the_first_selector(
    expr: str, calls: tuple[str, ...], call: str | None, grouping_labels: list[str]
) -> None:
    reading = read(expr)
    assert (reading.selectors[0].calls, reading.selectors[0].call) == (calls, call)
    assert reading.grouping_labels == grouping_labels
    assert reading.errors == []


def test_the_reader_decodes_matcher_values_however_they_are_quoted() -> None:
    [selector] = read("""a{b="x\\"y", c!='z', d=~`p|q`, e!~"$pilot_zone"}""").selectors
    assert selector.matchers == (
        ("b", "=", 'x"y'),
        ("c", "!=", "z"),
        ("d", "=~", "p|q"),
        ("e", "!~", "$pilot_zone"),
    )


@pytest.mark.parametrize(
    "expr",
    [
        'sum by (rule) (rate(a_total{pilot_zone="$pilot_zone"}[$__rate_interval]))',
        "increase(a_total[${__range}])",
        "a_total offset 1h30m @ start()",
        "a > 0x1F AND b < Inf unless c == NaN",
        "rate(a_total[5m]) * .5e-3",
    ],
)
def test_the_reader_reads_durations_variables_and_keywords_as_values(expr: str) -> None:
    reading = read(expr)
    assert reading.errors == []
    assert [selector.name for selector in reading.selectors] in (["a_total"], ["a", "b", "c"])


def test_tokens_keep_durations_and_variables_whole() -> None:
    assert tokens("a[1h30m] @ $t") == [
        ("ident", "a"),
        ("punct", "["),
        ("number", "1h30m"),
        ("punct", "]"),
        ("op", "@"),
        ("variable", "$t"),
    ]


@pytest.mark.parametrize(
    ("expr", "errors"),
    [
        ('{__name__="pilotzone_open_incidents"}', ["selector without a metric name"]),
        ("sum(rate(a_total[5m])", ["unbalanced parentheses"]),
        ("rate(a_total[5m]))", ["unbalanced parentheses"]),
        ("rate(a_total[5m)", ["no ']' closes '['", "unbalanced parentheses"]),
        ('a{b="c"', ["no '}' closes '{'"]),
        ("a{b}", ["cannot read the matchers of a"]),
        ('a{b=="c"}', ["cannot read the matchers of a"]),
        ("a; b", ["cannot read '; b'"]),
    ],
)
def test_the_reader_reports_what_it_cannot_read(expr: str, errors: list[str]) -> None:
    assert_reported(read(expr).errors, errors)


def test_catalog_labels_read_histograms_through_their_three_series() -> None:
    delay = "pilotzone_event_processing_delay_seconds"
    assert catalog_labels(f"{delay}_bucket") == ("le",)
    assert catalog_labels(f"{delay}_sum") == catalog_labels(f"{delay}_count") == ()
    assert catalog_labels(delay) is None
    assert catalog_labels("pilotzone_open_incidents") == ("pilot_zone", "rule", "severity")
    assert catalog_labels("pilotzone_speeding_seconds_total") is None


def test_counters_are_catalog_counters_and_histogram_series() -> None:
    assert is_counter("pilotzone_samples_total")
    assert is_counter("pilotzone_event_processing_delay_seconds_count")
    assert not is_counter("pilotzone_open_incidents")
    assert not is_counter("pilotzone_speeding_seconds_total")


def test_assert_reported_wants_each_report_in_order_and_no_more() -> None:
    assert_reported(["counter a outside rate()", "b has no label 'c'"], ["counter a", "b has no"])
    for expected in (["counter a"], ["b has no", "counter a"], ["counter a", "b has no", "d"]):
        with pytest.raises(AssertionError):
            assert_reported(["counter a outside rate()", "b has no label 'c'"], expected)
