"""Environment defaults for every pipeline command: the one place that reads ``PILOTZONE_*``.

Containers and Kubernetes pass settings as environment variables; each option of ``run`` and
``stream`` may come from ``PILOTZONE_<OPTION>``, and a flag on the command line still wins.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

ENV_PREFIX = "PILOTZONE_"


def environment_defaults(parser: argparse.ArgumentParser) -> None:
    """Let every option default to ``PILOTZONE_<OPTION>`` from the environment.

    Containers and Kubernetes pass settings as environment variables; a flag on the command
    line still wins. A required option set in the environment is no longer required; a list
    option (``--zones``) takes a comma-separated value; a switch takes 1/true/yes.
    """
    for action in parser._actions:
        if not action.option_strings or action.dest in {"help"}:
            continue
        name = ENV_PREFIX + action.option_strings[-1].lstrip("-").replace("-", "_").upper()
        if name not in os.environ:
            continue
        raw = os.environ[name]
        convert = action.type if callable(action.type) else str
        if isinstance(action, argparse._StoreTrueAction):
            value: Any = raw.strip().lower() in {"1", "true", "yes", "on"}
        elif isinstance(action, argparse._AppendAction):
            value = [convert(part) for part in raw.split(",") if part]
        else:
            value = convert(raw)
        action.default = value
        action.required = False
        action.help = f"{action.help} [from {name}]" if action.help else f"[from {name}]"
