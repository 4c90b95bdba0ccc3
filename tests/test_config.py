"""driftgraph.toml: the file gives the defaults, a flag on the command line wins, paths are relative to the file,
and every mistake in it is a clear error naming the file, the key and the line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from driftgraph.cli import cli
from driftgraph.config import PATH_KEYS, WeeklySettings, command_keys
from driftgraph.notify import NotifyError
from graph_fixture import build_fixture_db

WEBHOOK = "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX"


def run(args, cwd: Path, env=None):
    """`driftgraph ARGS` run from `cwd`, as a user in that folder would; stderr apart from stdout."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)
        return CliRunner().invoke(cli, args, env=env or {}, catch_exceptions=False)


def buckets(policy_text: str) -> set[str]:
    """The S3 resources the IAM policy grants reading state from."""
    statements = json.loads(policy_text)["Statement"]
    return {r for s in statements for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])
            if r.startswith("arn:") and ":s3:::" in r}


def test_the_file_gives_defaults_and_a_flag_on_the_command_line_wins(tmp_path):
    (tmp_path / "driftgraph.toml").write_text('[iam-policy]\ntfstates = ["s3://from-file/prod/"]\n'
                                              'partition = "aws-cn"\n')
    from_file = run(["iam-policy"], tmp_path)
    assert from_file.exit_code == 0, from_file.output
    assert buckets(from_file.stdout) == {"arn:aws-cn:s3:::from-file/prod/*", "arn:aws-cn:s3:::from-file"}
    assert f"config: {tmp_path / 'driftgraph.toml'}" in from_file.stderr  # which file was read is said

    flagged = run(["iam-policy", "--tfstate", "s3://from-flag/x/", "--partition", "aws"], tmp_path)
    assert buckets(flagged.stdout) == {"arn:aws:s3:::from-flag/x/*", "arn:aws:s3:::from-flag"}


def test_without_a_file_or_with_no_config_the_built_in_defaults_hold(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    plain = run(["iam-policy"], empty)
    assert plain.exit_code == 0 and plain.stderr == ""
    (tmp_path / "driftgraph.toml").write_text('[iam-policy]\ntfstates = ["s3://from-file/prod/"]\n')
    ignored = run(["--no-config", "iam-policy"], tmp_path)
    assert ignored.exit_code == 0 and ignored.stdout == plain.stdout and "config:" not in ignored.stderr
    both = run(["--config", "driftgraph.toml", "--no-config", "types"], tmp_path)
    assert both.exit_code == 2 and "cannot be combined" in both.stderr


def test_paths_in_the_file_are_relative_to_its_folder_not_the_working_directory(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    build_fixture_db(project / "estate.db")
    (project / "ci.toml").write_text('db = "estate.db"\n[report]\nformat = "json"\noutput = "out/report.json"\n')
    (project / "out").mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run(["--config", "../project/ci.toml", "report"], elsewhere)
    assert result.exit_code == 0, result.stderr
    assert json.loads((project / "out" / "report.json").read_text())["scan"]["id"] == 3  # the fixture's latest scan
    assert not (elsewhere / "out").exists()


def test_the_config_can_be_named_by_an_environment_variable_and_a_flag_wins_over_it(tmp_path):
    (tmp_path / "a.toml").write_text('[types]\nformat = "json"\n')
    (tmp_path / "b.toml").write_text('[types]\nformat = "table"\n')
    by_env = run(["types"], tmp_path, env={"DRIFTGRAPH_CONFIG": str(tmp_path / "a.toml")})
    assert by_env.exit_code == 0 and isinstance(json.loads(by_env.stdout), list)
    by_flag = run(["--config", "b.toml", "types"], tmp_path, env={"DRIFTGRAPH_CONFIG": str(tmp_path / "a.toml")})
    assert by_flag.stdout.rstrip().endswith("resource types")
    assert f"config: {tmp_path / 'b.toml'}" in by_flag.stderr


def test_a_missing_or_unreadable_config_file_is_an_error_not_a_silent_default(tmp_path):
    missing = run(["--config", "nope.toml", "types"], tmp_path)
    assert missing.exit_code == 2 and "nope.toml: no such file" in missing.stderr
    by_env = run(["types"], tmp_path, env={"DRIFTGRAPH_CONFIG": "gone.toml"})
    assert by_env.exit_code == 2 and "gone.toml: no such file" in by_env.stderr
    (tmp_path / "driftgraph.toml").mkdir()
    folder = run(["types"], tmp_path)
    assert folder.exit_code == 2 and "a folder, not a configuration file" in folder.stderr
    os.mkfifo(tmp_path / "fifo.toml")  # opening it to read would wait for a writer forever
    fifo = run(["--config", "fifo.toml", "types"], tmp_path)
    assert fifo.exit_code == 2 and "fifo.toml: not a file" in fifo.stderr
    (tmp_path / "driftgraph.toml").rmdir()
    os.mkfifo(tmp_path / "driftgraph.toml")
    here = run(["types"], tmp_path)
    assert here.exit_code == 2 and "driftgraph.toml: not a regular file" in here.stderr


@pytest.mark.parametrize("text, expected", [
    ('[scan]\nregions = ["eu-west-1"\nworkers = 2\n', "driftgraph.toml: not valid TOML: "),
    ('[scan]\nworkers = = 2\n', "(at line 2"),
    ('[scna]\nworkers = 2\n', "driftgraph.toml:1: [scna]: no such section (did you mean scan?)"),
    ('[scan]\nregions = ["eu-west-1"]\nworker = 2\n', "driftgraph.toml:3: [scan] worker: scan has no such option "
                                                       "(did you mean workers?)"),
    ('[scan]\n\nworkers = "four"\n', "driftgraph.toml:3: [scan] workers: expected an integer, got str"),
    ('[scan]\nworkers = 0\n', "driftgraph.toml:2: [scan] workers: 0 is not in the range x>=1"),
    ('[scan]\nregions = "eu-west-1"\n', 'driftgraph.toml:2: [scan] regions: expected an array, e.g. regions = '
                                        '["eu-west-1"]'),
    ('[scan]\nregions = [1]\n', "[scan] regions: expected an array of strings, got int"),
    ('[scan]\nno_stacks = "yes"\n', "[scan] no_stacks: expected true or false, got str"),
    ('[scan]\ncall_timeout = true\n', "[scan] call_timeout: expected a number, got bool"),
    ('[report]\nformat = "pdf"\n', "driftgraph.toml:2: [report] format: 'pdf' is not one of 'json', 'markdown'"),
    ('[report]\nfail_on = ["unmanaged", "drfit"]\n', "[report] fail_on: unknown: drfit"),
    ('[report]\nrequired_tags = ["owner", " "]\n', "[report] required_tags: a tag key cannot be empty"),
    ('[report]\nmin_managed_percent = 120\n', "[report] min_managed_percent: 120.0 is not in the range 0<=x<=100"),
    ('[diff]\nsince = "a week"\n', "[diff] since:"),
    ('regions = ["eu-west-1"]\n', "driftgraph.toml:1: regions: unknown key (outside a table only db"),
    ('scan = 3\n', "driftgraph.toml:1: scan: [scan] must be a table of options"),
    ('[notify]\nslack = "X"\n', "driftgraph.toml:2: [notify] slack: unknown key"),
    ('[scan]\n[scan.nested]\nx = 1\n', "[scan] nested: scan has no such option"),
])
def test_mistakes_in_the_file_name_the_file_the_key_and_the_line(tmp_path, text, expected):
    (tmp_path / "driftgraph.toml").write_text(text)
    result = run(["types"], tmp_path)
    assert result.exit_code == 2, result.output
    assert expected in result.stderr
    assert str(tmp_path / "driftgraph.toml") in result.stderr or "driftgraph.toml" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_broken_toml_file_gives_its_line(tmp_path):
    (tmp_path / "driftgraph.toml").write_text('[scan]\nregions = ["eu-west-1"]\n\nworkers = 2 3\n')
    result = run(["types"], tmp_path)
    assert result.exit_code == 2 and "driftgraph.toml: not valid TOML" in result.stderr and "line 4" in result.stderr


def test_a_file_that_is_not_utf8_is_refused_with_its_line(tmp_path):
    (tmp_path / "driftgraph.toml").write_bytes(b'[scan]\nregions = ["eu-west-1"]\n# caf\xe9\n')
    result = run(["types"], tmp_path)
    assert result.exit_code == 2 and "driftgraph.toml:3: not UTF-8 text" in result.stderr


@pytest.mark.parametrize("text", [
    f'[notify]\nslack_webhook_env = "{WEBHOOK}"\n',
    f'[report]\nslack_webhook_env = "{WEBHOOK}"\n',
])
def test_a_webhook_url_written_in_the_file_is_refused_without_being_shown(tmp_path, text):
    (tmp_path / "driftgraph.toml").write_text(text)
    result = run(["types"], tmp_path)
    assert result.exit_code == 2 and "not the URL itself" in result.stderr and "slack_webhook_env" in result.stderr
    assert "XXXXXXXX" not in result.stderr + result.stdout and "hooks.slack.com" not in result.stderr


def test_a_webhook_url_given_as_the_variable_name_on_the_command_line_is_refused_without_being_shown(tmp_path):
    build_fixture_db(tmp_path / "estate.db")
    result = run(["report", "--db", "estate.db", "--slack-webhook-env", WEBHOOK], tmp_path)
    assert result.exit_code == 2 and "not the URL itself" in result.stderr and "XXXXXXXX" not in result.stderr


@pytest.mark.parametrize("args, expected", [
    (["--team-tag", ""], "a tag key cannot be empty"),
    (["--required-tag", "owner", "--required-tag", "x" * 129], "at most 128 characters"),
    (["--min-managed-percent", "101"], "101.0 is not in the range 0<=x<=100"),
    (["--min-managed-percent", "nan"], "nan"),
    (["--slack-webhook-env", "1WEBHOOK"], "not an environment variable name"),
    (["--github-issue", "estate.db"], "estate.db is the database itself"),
    (["--github-issue", "out.md", "-o", "out.md"], "the report's own output"),
])
def test_the_weekly_options_of_report_are_checked(tmp_path, args, expected):
    build_fixture_db(tmp_path / "estate.db")
    result = run(["report", "--db", "estate.db", *args], tmp_path)
    assert result.exit_code == 2 and expected in result.stderr, result.stderr
    assert (tmp_path / "estate.db").stat().st_size > 0


def test_the_weekly_options_are_accepted_from_the_file_and_the_command_line(tmp_path):
    build_fixture_db(tmp_path / "estate.db")
    (tmp_path / "driftgraph.toml").write_text(
        'db = "estate.db"\n[report]\nteam_tag = "squad"\nrequired_tags = ["owner", "team"]\n'
        'min_managed_percent = 80\n[notify]\nslack_webhook_env = "SLACK_WEBHOOK_URL"\ngithub_issue = "weekly.md"\n')
    # the fixture is 50% managed: the file's threshold of 80 fails the run (exit 3), a lower one on the command line wins
    result = run(["report", "--required-tag", "cost-centre", "--format", "json"], tmp_path)
    assert result.exit_code == 3 and "managed 50.0% is below --min-managed-percent 80%" in result.stderr
    assert json.loads(result.stdout)["schema"] == "driftgraph/report/1"
    result = run(["report", "--format", "json", "--min-managed-percent", "40"], tmp_path)
    assert result.exit_code == 0, result.stderr
    assert not (tmp_path / "weekly.md").exists(), "no --since: the weekly summary is not delivered"


def test_flags_win_for_the_weekly_settings_and_the_file_fills_the_rest(tmp_path):
    """What click hands `report` (and so the weekly summary) from the file's default_map and the flags."""
    from driftgraph.config import load_config

    (tmp_path / "driftgraph.toml").write_text(
        '[report]\ndb = "estate.db"\nteam_tag = "squad"\nrequired_tags = ["owner", "team"]\n'
        '[notify]\nslack_webhook_env = "SLACK_WEBHOOK_URL"\ngithub_issue = "weekly.md"\n')
    default_map = load_config(tmp_path / "driftgraph.toml", cli.commands).default_map["report"]
    build_fixture_db(tmp_path / "estate.db")
    ctx = cli.commands["report"].make_context("report", ["--team-tag", "team", "--min-managed-percent", "75"],
                                              default_map=default_map)
    params = ctx.params
    assert params["team_tag"] == "team" and params["required_tags"] == ("owner", "team")
    assert params["min_managed_percent"] == 75.0 and params["slack_webhook_env"] == "SLACK_WEBHOOK_URL"
    assert params["github_issue"] == str(tmp_path / "weekly.md") and params["db"] == str(tmp_path / "estate.db")
    assert params["fmt"] == "markdown" and params["output"] == "-"  # untouched by the file: built-in defaults


def test_diff_since_from_the_file_yields_to_from_on_the_command_line(tmp_path):
    build_fixture_db(tmp_path / "estate.db")
    (tmp_path / "driftgraph.toml").write_text('db = "estate.db"\n[diff]\nsince = "7d"\nformat = "json"\n')
    result = run(["diff", "--from", "1", "--to", "2"], tmp_path)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["from_scan"]["id"] == 1
    both = run(["diff", "--from", "1", "--since", "7d"], tmp_path)
    assert both.exit_code == 2 and "cannot be combined" in both.stderr


def test_a_relative_glob_stays_a_glob_under_a_folder_whose_name_has_brackets(tmp_path):
    from driftgraph.config import load_config

    folder = tmp_path / "env[prod]"
    folder.mkdir()
    (folder / "driftgraph.toml").write_text('[scan]\ntfstates = ["states/*.tfstate", "s3://b/p/", "-", '
                                            '"~/x.tfstate"]\ncfn_templates = ["t/app.yaml@eu-west-1"]\n')
    scan = load_config(folder / "driftgraph.toml", cli.commands).default_map["scan"]
    import glob

    assert scan["tfstates"][0] == f"{glob.escape(str(folder))}/states/*.tfstate"
    assert scan["tfstates"][1:3] == ["s3://b/p/", "-"] and scan["tfstates"][3] == str(Path.home() / "x.tfstate")
    assert scan["cfn_templates"] == [f"{folder}/t/app.yaml@eu-west-1"]


def test_every_path_option_is_resolved_relative_to_the_file_and_keys_are_unique():
    """A new option holding a path must be named in PATH_KEYS, or the file's relative path would silently be
    read from the working directory."""
    for name, command in cli.commands.items():
        keys = command_keys(command)
        assert len(keys) == len([p for p in command.params if p.name]), f"{name}: two options share a key"
        for key, param in keys.items():
            if isinstance(param.type, click.Path):
                assert key in PATH_KEYS, f"{name} {key} is a path: add it to PATH_KEYS"


def test_the_webhook_url_is_read_from_the_variable_named_and_never_shown():
    settings = WeeklySettings(slack_webhook_env="HOOK")
    assert WeeklySettings().slack_webhook_url({}) is None
    assert settings.slack_webhook_url({"HOOK": WEBHOOK}) == WEBHOOK
    with pytest.raises(NotifyError, match="HOOK .*is not set"):
        settings.slack_webhook_url({})
    with pytest.raises(NotifyError) as error:
        settings.slack_webhook_url({"HOOK": "http://hooks.slack.com/services/T000/B000/XXXXXXXX"})
    assert "HOOK" in str(error.value) and "XXXXXXXX" not in str(error.value)


def test_the_readme_example_is_a_valid_configuration(tmp_path):
    from driftgraph.config import load_config

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    example = readme.split("### Configuration file", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "driftgraph.toml").write_text(example)
    default_map = load_config(tmp_path / "driftgraph.toml", cli.commands).default_map
    assert default_map["scan"]["regions"] == ["us-east-1", "eu-west-1"]
    assert default_map["scan"]["ignore_file"] == str(tmp_path / ".driftignore")
    assert default_map["report"]["fail_on"] == "new-unmanaged,new-drift"
    assert default_map["report"]["slack_webhook_env"] == "SLACK_WEBHOOK_URL"
    assert default_map["report"]["db"] == str(tmp_path / "estate.db") and "db" not in default_map.get("demo", {})
