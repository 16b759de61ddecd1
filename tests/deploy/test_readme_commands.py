"""Every ``pilotzone`` command the READMEs tell an operator to type parses as written.

Only the parsing runs (the real ``pilotzone`` argument parser, nothing executed): a documented
command that argparse refuses (a required option left out, a renamed flag) fails here, naming
the file and the command, before an operator copies it.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest

from pilotzone.pipelines.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
READMES = [ROOT / "README.md", *sorted((ROOT / "deploy").rglob("README.md"))]
SHELL_OPERATORS = {">", ">>", "<", "|", "||", "&&", ";", "&"}


def documented_commands(readme: Path) -> list[list[str]]:
    """The arguments of every ``pilotzone ...`` in the file's shell blocks (continuations joined)."""
    text = readme.read_text(encoding="utf-8")
    found = []
    for block in re.findall(r"```(?:sh|bash|shell)\n(.*?)```", text, flags=re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            lexer.commenters = "#"
            words = list(lexer)
            for index, word in enumerate(words):
                starts_command = index == 0 or words[index - 1] in SHELL_OPERATORS
                if Path(word).name == "pilotzone" and starts_command and index + 1 < len(words):
                    rest = words[index + 1 :]
                    end = next((i for i, w in enumerate(rest) if w in SHELL_OPERATORS), len(rest))
                    if not any(w.startswith("[") for w in rest[:end]):  # a synopsis, not a command
                        found.append(rest[:end])
    return found


COMMANDS = [
    pytest.param(words, id=f"{readme.relative_to(ROOT)}: pilotzone {' '.join(words)[:60]}")
    for readme in READMES
    for words in documented_commands(readme)
]


def test_the_readmes_show_commands() -> None:
    deploy = [
        words for readme in READMES if "deploy" in readme.parts for words in documented_commands(readme)
    ]
    assert [words[0] for words in deploy if words[0] in {"simulate", "run"}] == ["simulate", "run"]


@pytest.mark.parametrize("words", COMMANDS)
def test_documented_command_parses(words: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in os.environ if name.startswith("PILOTZONE_")]:
        monkeypatch.delenv(name)
    try:
        args = build_parser().parse_args(words)
    except SystemExit as exc:
        pytest.fail(f"`pilotzone {shlex.join(words)}` is refused by the argument parser (exit {exc.code})")
    assert callable(args.func)


def test_a_command_missing_a_required_option_is_caught(capsys: pytest.CaptureFixture[str]) -> None:
    # What deploy/README.md showed before: simulate without --rate.
    words = shlex.split("simulate --zones zones/configs/gwangju.yaml --vehicles 50 --duration 600 --out sim")
    with pytest.raises(SystemExit):
        build_parser().parse_args(words)
    assert "--rate" in capsys.readouterr().err
