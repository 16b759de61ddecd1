"""Zone timezones: names of the IANA tz database only, never the host's clock or a file."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pilotzone.zones.model import ZoneConfig
from pilotzone.zones.timezones import iana_timezones, timezone_problem

ONLY_IANA = (
    "(names of the IANA tz database only: host-specific names such as 'localtime', file paths and offsets such as "
    "'UTC+9' would make schedules follow the machine, not the config)"
)


def _config(timezone: str) -> dict[str, object]:
    return {
        "zone_id": "z",
        "name": "z",
        "timezone": timezone,
        "boundary": {"type": "Polygon", "coordinates": []},
        "operators": [{"id": "a", "vehicle_classes": ["CAR"]}],
        "rules": [{"id": "p", "kind": "permit"}],
    }


@pytest.mark.parametrize(
    "name", ["Asia/Seoul", "UTC", "Etc/GMT-9", "America/Argentina/Buenos_Aires", "Europe/Kyiv"]
)
def test_iana_names_are_accepted(name: str) -> None:
    assert timezone_problem(name) is None
    assert ZoneConfig.model_validate(_config(name)).tz.key == name


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("localtime", "use a name such as 'Asia/Seoul'"),
        ("/etc/localtime", "use a name such as 'Asia/Seoul'"),
        ("../../../etc/localtime", "use a name such as 'Asia/Seoul'"),
        ("UTC+9", "use a name such as 'Asia/Seoul'"),
        ("posixrules", "use a name such as 'Asia/Seoul'"),
        ("posix/Asia/Seoul", "use a name such as 'Asia/Seoul'"),
        ("right/Asia/Seoul", "use a name such as 'Asia/Seoul'"),
        ("", "use a name such as 'Asia/Seoul'"),
        ("asia/seoul", "did you mean 'Asia/Seoul'?"),
        ("Asia/Soul", "did you mean 'Asia/Seoul'?"),
    ],
)
def test_host_specific_names_paths_and_offsets_are_refused(name: str, hint: str) -> None:
    message = f"unknown IANA timezone {name!r}: {hint} {ONLY_IANA}"
    assert timezone_problem(name) == message
    with pytest.raises(ValidationError) as caught:
        ZoneConfig.model_validate(_config(name))
    (error,) = caught.value.errors()
    assert (error["loc"], error["msg"]) == (("timezone",), f"Value error, {message}")


def test_the_list_is_the_tzdata_package_and_not_the_host() -> None:
    zones = iana_timezones()
    assert {"Asia/Seoul", "Asia/Pyongyang", "UTC", "Etc/UTC"} <= zones
    assert not {"localtime", "posixrules", "Factory/Asia"} & zones
    assert not any(name.startswith(("posix/", "right/", "/")) for name in zones)
