"""Cut the municipalities the shipped zone configs use out of the national boundary file.

The national file is 3 MB; shipping only the features a config references keeps the package
small and makes every byte of shipped geometry reviewable. Geometry and properties are copied
unchanged (no re-simplification, no repair), so the subset is exactly as valid or invalid as
its source and anyone can reproduce it:

    python zones/data/extract.py SOURCE.geojson -o zones/data/municipalities-subset.geojson

Without ``--code`` the default set is written: the five districts of Gwangju, Seoul
Gangnam-gu and Sejong.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DEFAULT_CODES: tuple[str, ...] = ("11680", "29110", "29140", "29155", "29170", "29200", "36110")
"""Gangnam-gu; Gwangju Dong-gu, Seo-gu, Nam-gu, Buk-gu, Gwangsan-gu; Sejong."""


def subset(collection: dict[str, Any], codes: Sequence[str]) -> dict[str, Any]:
    """The features whose ``sgg_code`` is in ``codes``, in the order of ``codes``."""
    by_code = {feature["properties"]["sgg_code"]: feature for feature in collection["features"]}
    missing = [code for code in codes if code not in by_code]
    if missing:
        raise KeyError(f"no feature with sgg_code {', '.join(missing)} in the source file")
    return {
        "type": "FeatureCollection",
        "name": collection.get("name", "municipalities") + "_subset",
        "features": [by_code[code] for code in codes],
    }


def write_collection(collection: dict[str, Any], out: Path) -> None:
    """One feature per line: diffs of the subset stay readable feature by feature."""
    lines = [
        json.dumps(feature, ensure_ascii=False, separators=(",", ":")) for feature in collection["features"]
    ]
    header = json.dumps({"type": collection["type"], "name": collection["name"]}, ensure_ascii=False)[:-1]
    out.write_text(header + ', "features": [\n' + ",\n".join(lines) + "\n]}\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="korea-municipalities-2022.geojson")
    parser.add_argument("-o", "--output", type=Path, required=True, help="where to write the subset")
    parser.add_argument("--code", action="append", dest="codes", help="sgg_code to keep (repeatable)")
    args = parser.parse_args(argv)
    try:
        collection = json.loads(args.source.read_text(encoding="utf-8"))
        write_collection(subset(collection, args.codes or DEFAULT_CODES), args.output)
    except (OSError, ValueError, KeyError) as exc:
        print(f"extract: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
