"""Zone config models: time windows and the validators that guard them."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from pilotzone.zones.model import GeometrySource, TimeWindow, ZoneConfig
from pilotzone.zones.rules import schedule_contains, week_minutes

# 2025-03-03 is a Monday.
MON = dt.date(2025, 3, 3)


def at(day_offset: int, hhmm: str) -> dt.datetime:
    hour, minute = map(int, hhmm.split(":"))
    return dt.datetime.combine(MON + dt.timedelta(days=day_offset), dt.time(hour, minute))


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (at(0, "06:59"), False),
        (at(0, "07:00"), True),  # start is inclusive
        (at(0, "21:59"), True),
        (at(0, "22:00"), False),  # end is exclusive
        (at(5, "12:00"), False),  # Saturday is not listed
    ],
)
def test_window_within_a_day(when: dt.datetime, expected: bool) -> None:
    window = TimeWindow.model_validate(
        {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "07:00", "end": "22:00"}
    )
    assert window.contains(when) is expected


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (at(4, "22:59"), False),  # Friday before the start
        (at(4, "23:00"), True),  # Friday night
        (at(5, "04:59"), True),  # Saturday early morning belongs to Friday's window
        (at(5, "05:00"), False),
        (at(5, "23:30"), False),  # Saturday night: the window does not start on Saturday
        (at(0, "01:00"), False),  # Monday early morning would belong to Sunday
        (at(0, "23:30"), True),
        (at(1, "03:00"), True),
    ],
)
def test_window_past_midnight_belongs_to_its_start_day(when: dt.datetime, expected: bool) -> None:
    window = TimeWindow.model_validate(
        {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "23:00", "end": "05:00"}
    )
    assert window.contains(when) is expected


def test_2400_is_end_of_day() -> None:
    window = TimeWindow.model_validate({"days": ["sun"], "start": "22:00", "end": "24:00"})
    assert window.ends_at_midnight
    assert window.contains(at(6, "23:59"))
    assert not window.contains(at(6, "21:59"))
    assert not window.contains(at(0, "00:00"))  # Monday 00:00 is past the end


def test_whole_day_window_from_0000_to_2400() -> None:
    window = TimeWindow.model_validate({"days": ["wed"], "start": "00:00", "end": "24:00"})
    assert [window.contains(at(2, t)) for t in ("00:00", "12:00", "23:59")] == [True, True, True]
    assert not window.contains(at(3, "00:00"))


def test_default_window_is_always() -> None:
    window = TimeWindow()
    assert all(window.contains(at(day, "03:17")) for day in range(7))


def test_numbers_are_refused_as_times() -> None:
    # Plain PyYAML reads `start: 22:00` as the integer 1320, which pydantic would take as 00:22.
    with pytest.raises(
        ValidationError, match=r"start must be a time written as 'HH:MM' \(in quotes\), not the number 1320"
    ):
        TimeWindow.model_validate({"start": 1320, "end": "06:00"})


def test_utc_offsets_are_refused_in_times() -> None:
    with pytest.raises(ValidationError, match="wall-clock times in the zone's timezone"):
        TimeWindow.model_validate({"start": "22:00+09:00", "end": "06:00"})


def test_empty_days_are_refused() -> None:
    with pytest.raises(ValidationError, match="days is empty"):
        TimeWindow.model_validate({"days": [], "start": "08:00", "end": "09:00"})


def test_schedule_contains() -> None:
    windows = [
        TimeWindow.model_validate({"days": ["mon"], "start": "08:00", "end": "09:00"}),
        TimeWindow.model_validate({"days": ["tue"], "start": "20:00", "end": "02:00"}),
    ]
    assert schedule_contains(None, at(3, "12:00"))
    assert not schedule_contains([], at(3, "12:00"))
    assert [schedule_contains(windows, t) for t in (at(0, "08:30"), at(2, "01:00"), at(2, "08:30"))] == [
        True,
        True,
        False,
    ]


def test_week_minutes_counts_wrapped_windows_once() -> None:
    sunday_night = TimeWindow.model_validate({"days": ["sun"], "start": "23:00", "end": "01:00"})
    covered = week_minutes([sunday_night])
    assert int(covered.sum()) == 120
    assert covered[0] and covered[59] and not covered[60]  # Monday 00:00-00:59
    assert covered[-1] and covered[-60] and not covered[-61]  # Sunday 23:00-23:59
    assert int(week_minutes(None).sum()) == 7 * 24 * 60


def test_unknown_timezone_says_what_to_use() -> None:
    with pytest.raises(
        ValidationError, match=r"unknown IANA timezone 'Asia/Soul': did you mean 'Asia/Seoul'\?"
    ):
        ZoneConfig.model_validate(
            {
                "zone_id": "z",
                "name": "z",
                "timezone": "Asia/Soul",
                "boundary": {"type": "Polygon", "coordinates": []},
                "operators": [{"id": "a", "vehicle_classes": ["CAR"]}],
                "rules": [{"id": "p", "kind": "permit"}],
            }
        )


def test_geometry_source_reads_numeric_codes_as_text() -> None:
    assert GeometrySource.model_validate({"file": "x.geojson", "where": {"sgg_code": 29110}}).where == {
        "sgg_code": "29110"
    }
