"""Meta-tests for the CLI: every command documents itself and appears in the README with its options."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from driftgraph.cli import cli

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_has_help_and_a_readme_row_with_its_options(name):
    command = cli.commands[name]
    assert command.help and len(command.help.split()) >= 5, f"{name} needs a docstring that says what it does"
    assert f"`driftgraph {name}" in README, f"{name} is missing from the README's command table"
    row = next(line for line in README.splitlines() if line.startswith(f"| `driftgraph {name}"))
    for option in command.params:
        for flag in option.opts:
            if flag.startswith("--"):
                assert flag in row, f"{name} {flag} is not in its README row"
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0 and command.help.split(".")[0][:30] in " ".join(result.output.split())


def test_bad_usage_and_bad_databases_give_clear_errors(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["scan", "--db", str(tmp_path / "x.db"), "--type", "AWS::Nope::Thing"])
    assert result.exit_code == 2 and "not in the catalog" in result.output
    not_a_graph = tmp_path / "other.db"
    import sqlite3

    sqlite3.connect(not_a_graph).execute("create table t (x)").connection.close()
    result = runner.invoke(cli, ["report", "--db", str(not_a_graph)])
    assert result.exit_code == 1 and "another application's SQLite database" in result.output


def test_help_shows_examples_and_the_ignore_syntax_it_documents_parses():
    from driftgraph.cli import SCAN_EPILOG
    from graph.reconcile import IgnoreRules

    assert "Examples:" in CliRunner().invoke(cli, ["--help"]).output
    scan_help = CliRunner().invoke(cli, ["scan", "--help"]).output
    assert "Examples:" in scan_help and "tag:lifecycle=ephemeral" in scan_help and "Exit codes" in scan_help
    section = SCAN_EPILOG.split("Ignore file", 1)[1].split("Exit codes", 1)[0]
    rules = [line.split()[0] for line in section.splitlines()[1:] if line.strip() and line.strip() != "\b"]
    assert len(IgnoreRules(rules, "help").rules) == len(rules) == 6


def test_no_test_imports_the_tests_folder_as_a_package():
    """CI runs `.venv/bin/pytest`, which puts tests/ itself on the path, not the repository: `from tests.x import`
    works under `python -m pytest` only, and broke CI once. Shared helpers are imported by module name."""
    import re
    from pathlib import Path

    offenders = [f"{path.name}:{number}" for path in sorted(Path(__file__).parent.glob("*.py"))
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if re.match(r"\s*(from tests[.\s]|import tests\b)", line)]
    assert offenders == []
