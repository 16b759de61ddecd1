"""Every test that starts a real server or tool carries the ``integration`` marker.

The fast loop (``pytest -m "not integration and not slow"``) is only fast, and only runs without
Prometheus installed, if no test that needs an external process slips in unmarked. A static
check over the test files (their syntax tree, nothing is run) finds such tests: a test uses a
server when it, a function of its module it calls, or a fixture of its module it takes, calls
a helper of ``tests.servers`` that starts a process, or runs one of the tools by name through
``subprocess``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

TESTS = Path(__file__).parent

SERVER_HELPERS = {
    "executable",
    "run_tool",
    "server",
    "pushgateway",
    "prometheus",
    "pushgateway_command",
    "prometheus_command",
    "alertmanager_command",
    "postgresql",
    "postgres_tool",
}
"""The names of ``tests.servers`` that start (or find, to start) an external process."""

TOOLS = {
    "prometheus",
    "promtool",
    "amtool",
    "java",
    "prometheus-pushgateway",
    "prometheus-alertmanager",
    "chromium",
    "pdftotext",
    "pdftoppm",
    "pdfinfo",
    "initdb",
    "pg_ctl",
    "postgres",
}
"""External programs a test may run only under the ``integration`` marker."""

SUBPROCESS_CALLS = {"run", "Popen", "check_call", "check_output", "call"}


def marks(decorators: list[ast.expr]) -> set[str]:
    """The ``pytest.mark.NAME`` names among decorators (or a module's ``pytestmark`` value)."""
    names = set()
    for decorator in decorators:
        node = decorator.func if isinstance(decorator, ast.Call) else decorator
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "mark"
        ):
            names.add(node.attr)
    return names


def module_marks(tree: ast.Module) -> set[str]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "pytestmark" for target in node.targets
        ):
            values = node.value.elts if isinstance(node.value, ast.List | ast.Tuple) else [node.value]
            return marks(list(values))
    return set()


def server_helpers_imported(tree: ast.Module) -> set[str]:
    return {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "tests.servers"
        for alias in node.names
        if alias.name in SERVER_HELPERS
    }


def runs_a_tool(call: ast.Call) -> bool:
    """``subprocess.run(["promtool", ...])`` and the like."""
    func = call.func
    if not (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and func.value.id == "subprocess"
        and func.attr in SUBPROCESS_CALLS
        and call.args
        and isinstance(call.args[0], ast.List)
        and call.args[0].elts
    ):
        return False
    program = call.args[0].elts[0]
    return isinstance(program, ast.Constant) and program.value in TOOLS


def called_names(function: ast.FunctionDef) -> Iterator[str]:
    for node in ast.walk(function):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            yield node.func.id


def server_using_tests(source: str) -> Iterator[tuple[str, set[str]]]:
    """(test name, its markers) for each test in a module's ``source`` that starts an external process."""
    tree = ast.parse(source)
    helpers = server_helpers_imported(tree)
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    found: dict[str, bool] = {}

    def uses_server(name: str) -> bool:
        if name in found:
            return found[name]
        found[name] = False  # a recursive function is judged by its other calls
        function = functions[name]
        direct = any(isinstance(node, ast.Call) and runs_a_tool(node) for node in ast.walk(function)) or any(
            callee in helpers for callee in called_names(function)
        )
        through = any(callee in functions and uses_server(callee) for callee in called_names(function))
        fixtures = any(arg.arg in functions and uses_server(arg.arg) for arg in function.args.args)
        found[name] = direct or through or fixtures
        return found[name]

    module = module_marks(tree)
    for name, function in functions.items():
        if name.startswith("test_") and uses_server(name):
            yield name, module | marks(function.decorator_list)


def test_the_check_sees_servers_helpers_and_tools() -> None:
    source = (
        "import subprocess\nimport pytest\nfrom tests.servers import pushgateway\n"
        "@pytest.fixture\ndef gateway():\n    with pushgateway('.') as url:\n        yield url\n"
        "def test_a(gateway): ...\n"
        "@pytest.mark.integration\ndef test_b():\n    subprocess.run(['promtool', 'check'])\n"
        "def test_c():\n    subprocess.run(['ls'])\n"
    )
    assert dict(server_using_tests(source)) == {"test_a": set(), "test_b": {"integration"}}


def test_every_test_starting_a_server_or_tool_is_marked_integration() -> None:
    unmarked = [
        f"{path.relative_to(TESTS.parent)}::{name}"
        for path in sorted(TESTS.rglob("test_*.py"))
        for name, markers in server_using_tests(path.read_text(encoding="utf-8"))
        if "integration" not in markers
    ]
    assert unmarked == [], "mark these @pytest.mark.integration: " + ", ".join(unmarked)
