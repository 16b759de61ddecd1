"""Dataflow Flex Template entry point: ``pilotzone stream --runner dataflow`` with the template's
parameters.

Dataflow's launcher runs this file (FLEX_TEMPLATE_PYTHON_PY_FILE in deploy/dataflow/Dockerfile)
with every template parameter and Dataflow's own pipeline options (``--project``,
``--temp_location``, ``--sdk_container_image`` ...) as ``--name=value`` arguments. Template
parameter names use underscores (deploy/dataflow/metadata.json), the way Dataflow spells
options, while ``pilotzone stream`` spells them with hyphens and refuses options it does not know.
So each argument that names a ``stream`` option is renamed and kept; everything else is handed
to Beam after ``--``. The runner is always Dataflow: a ``--runner`` the launcher passes is
Beam's name for it (``DataflowRunner``), not one of ours, and is dropped.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence

RUNNER = "dataflow"


def stream_option_names(parser: argparse.ArgumentParser | None = None) -> frozenset[str]:
    """The long options of ``pilotzone stream`` (``--kafka-bootstrap`` ...); empty without it.

    argparse has no public way to list a sub-command's options, so this reads the registered
    option strings, which every argparse since Python 3.2 keeps in ``_option_string_actions``.
    """
    if parser is None:
        from pilotzone.pipelines.cli import build_parser

        parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and "stream" in action.choices:
            stream: argparse.ArgumentParser = action.choices["stream"]
            return frozenset(name for name in stream._option_string_actions if name.startswith("--"))
    return frozenset()


def stream_arguments(argv: Iterable[str], stream_options: frozenset[str]) -> list[str]:
    """``argv`` of the template launcher as arguments of ``pilotzone stream``.

    ``--kafka_bootstrap=h:9092`` becomes ``--kafka-bootstrap=h:9092`` when ``stream`` has that
    option; other options, with the value that follows them, go after ``--`` to Beam.
    """
    ours: list[str] = ["--runner", RUNNER]
    beam: list[str] = []
    tokens = list(argv)
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        if not token.startswith("--"):  # a stray value: let Beam report it
            beam.append(token)
            continue
        name, has_value, value = token.partition("=")
        values: list[str] = []
        if not has_value and index < len(tokens) and not tokens[index].startswith("--"):
            values = [tokens[index]]
            index += 1
        if name == "--runner":
            continue
        option = "--" + name[2:].replace("_", "-")
        if option in stream_options:
            ours.extend([f"{option}={value}"] if has_value else [option, *values])
        else:
            beam.extend([token, *values])
    return [*ours, "--", *beam] if beam else ours


def main(argv: Sequence[str] | None = None) -> int:
    from pilotzone.pipelines.cli import main as pilotzone

    options = stream_option_names()
    if not options:
        print("pilotzone: this build has no 'stream' command to launch", file=sys.stderr)
        return 2
    arguments = stream_arguments(sys.argv[1:] if argv is None else argv, options)
    return pilotzone(["stream", *arguments])


if __name__ == "__main__":
    sys.exit(main())
