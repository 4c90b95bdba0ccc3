"""driftgraph.toml: per-command defaults read from one TOML file and laid onto click's default_map, so a flag
given on the command line always wins over the file, and the file over the built-in default."""

from __future__ import annotations

import difflib
import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import click

CONFIG_NAME = "driftgraph.toml"
CONFIG_ENV = "DRIFTGRAPH_CONFIG"  # for cron jobs and services whose working directory is not the project's
MAX_CONFIG_BYTES = 1 << 20  # a configuration file is a few hundred bytes; a larger one is a mistake

# Keys outside any table apply to every command that has the option, except the demo, which builds a database
# of its own (pointed at the estate's, it would refuse to replace it).
SHARED_KEYS = ("db",)
SHARED_EXCEPT = ("demo",)
# [notify]: where the weekly summary goes, for every command that delivers it (report today).
NOTIFY_SECTION = "notify"
NOTIFY_KEYS = ("slack_webhook_env", "github_issue")
# Options that hold local paths: relative to the file's folder, not to the working directory. Their existence is
# checked by the command that runs (a path the command line replaces is never looked at).
PATH_KEYS = frozenset({"db", "tfstates", "cfn_templates", "tf_dirs", "cdk_outs", "ignore_file", "output", "out",
                       "github_issue", "baseline", "inputs"})
# Options read as a comma list on the command line (`--fail-on unmanaged,drift`): the file gives an array.
COMMA_LIST_KEYS = frozenset({"fail_on"})
# A URL scheme (s3://, https://, tfc://, s3+workspaces://): a location, not a path.
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
ENV_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ConfigError(click.ClickException):
    """A configuration file that cannot be used: wrong usage (exit 2), named with its file, key and line."""

    exit_code = 2


@dataclass(frozen=True)
class Config:
    path: Path
    default_map: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class WeeklySettings:
    """What the weekly summary needs beyond the report: the team tag, the tags every resource must carry, the
    coverage below which it fails, and where it is delivered (the webhook by the name of its variable only)."""

    team_tag: str = "team"
    required_tags: tuple[str, ...] = ()
    min_managed_percent: float | None = None
    slack_webhook_env: str | None = None
    github_issue: str | None = None

    def slack_webhook_url(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The webhook URL from the variable named, or None when none is named. An unset or empty variable, or
        one that holds no https URL, is a NotifyError naming the variable, never its value."""
        from driftgraph.notify import NotifyError, check_webhook_url

        if self.slack_webhook_env is None:
            return None
        url = (os.environ if environ is None else environ).get(self.slack_webhook_env, "").strip()
        if not url:
            raise NotifyError(f"the environment variable {self.slack_webhook_env} (named by slack_webhook_env) is "
                              "not set: set it to the Slack incoming-webhook URL")
        try:
            check_webhook_url(url)
        except NotifyError as error:
            raise NotifyError(f"{self.slack_webhook_env}: {error}") from None
        return url


def env_var_name(value: str) -> str:
    """`value` when it names an environment variable. A URL pasted in its place is refused without showing it:
    it is a secret, and this setting exists so that it is never written in a file or on a command line."""
    if ENV_VAR_NAME.fullmatch(value):
        return value
    if "://" in value or value.lower().startswith("hooks."):
        raise ValueError("give the name of the environment variable that holds the webhook URL (e.g. "
                         "SLACK_WEBHOOK_URL), not the URL itself: a webhook URL is a secret, keep it out of files "
                         "and command lines (and replace it in Slack if it was committed)")
    raise ValueError("not an environment variable name (letters, digits and _, not starting with a digit)")


def tag_key(value: str) -> str:
    """An AWS tag key as a setting: 1 to 128 characters, not only blanks."""
    if not value.strip():
        raise ValueError("a tag key cannot be empty")
    if len(value) > 128:
        raise ValueError("a tag key has at most 128 characters")
    return value


def find_config(explicit: str | None, cwd: str | os.PathLike | None = None) -> Path | None:
    """The file to read: the one given (--config or DRIFTGRAPH_CONFIG), else driftgraph.toml in the working
    directory when there is one, else None."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"{explicit}: {'not a file' if path.exists() else 'no such file'} (--config or "
                              f"{CONFIG_ENV})")
        return path
    candidate = Path(cwd or os.getcwd()) / CONFIG_NAME
    if candidate.exists() or candidate.is_symlink():
        return candidate  # a directory or dangling link of that name is an error when read, never skipped
    return None


def config_key(param: click.Parameter) -> str:
    """The key an option has in the file: its long name (`--ignore-file` is `ignore_file`), and for a repeatable
    option the plural its values go by (`--region` is `regions`, `--type` is `types`)."""
    if getattr(param, "multiple", False) or not isinstance(param, click.Option):
        return param.name.rstrip("_")
    longs = [o for o in param.opts if o.startswith("--")]
    return longs[0][2:].replace("-", "_") if longs else param.name


def command_keys(command: click.Command) -> dict[str, click.Parameter]:
    return {config_key(p): p for p in command.params if p.name and not getattr(p, "hidden", False)}


def load_config(path: Path, commands: Mapping[str, click.Command]) -> Config:
    """`path` read, checked against the commands' options and turned into click's default_map."""
    text = _read(path)
    try:
        import tomllib
    except ImportError:  # Python 3.10: no configuration file, rather than a half-read one
        raise ConfigError(f"{path}: reading a configuration file needs Python 3.11 or later (tomllib)") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    return Config(path, build_default_map(data, commands, path, _key_lines(text)))


def build_default_map(data: dict[str, Any], commands: Mapping[str, click.Command], path: Path,
                      lines: Mapping[tuple[str | None, str], int] | None = None) -> dict[str, dict[str, Any]]:
    """One table per command, keys named as its options; top-level `db` and the [notify] table apply to every
    command that has those options. Everything is checked here, so a mistake names the file, key and line."""
    lines = lines or {}
    base = path.resolve().parent
    shared: dict[str, tuple[str | None, Any]] = {}
    tables: dict[str, dict[str, Any]] = {}
    for name, value in data.items():
        if isinstance(value, dict):
            if name != NOTIFY_SECTION and name not in commands:
                known = sorted([*commands, NOTIFY_SECTION])
                raise ConfigError(_where(path, lines, (None, name), f"[{name}]")
                                  + f": no such section{_did_you_mean(name, known)} (sections: "
                                  f"{', '.join(f'[{k}]' for k in known)})")
            if name == NOTIFY_SECTION:
                for key, item in value.items():
                    if key not in NOTIFY_KEYS:
                        raise ConfigError(_where(path, lines, (name, key), f"[{name}] {key}")
                                          + f": unknown key{_did_you_mean(key, NOTIFY_KEYS)} (keys: "
                                          f"{', '.join(NOTIFY_KEYS)})")
                    shared[key] = (name, item)
            else:
                tables[name] = value
        elif name in SHARED_KEYS:
            shared[name] = (None, value)
        elif name in commands:
            raise ConfigError(_where(path, lines, (None, name), name) + f": [{name}] must be a table of options")
        else:
            raise ConfigError(_where(path, lines, (None, name), name)
                              + f": unknown key{_did_you_mean(name, SHARED_KEYS)} (outside a table only "
                              f"{', '.join(SHARED_KEYS)}; options go in their command's table, e.g. [scan])")

    default_map: dict[str, dict[str, Any]] = {}
    for command_name, command in commands.items():
        keys = command_keys(command)
        defaults = {}
        for key, (section, value) in shared.items():
            if key in keys and not (section is None and command_name in SHARED_EXCEPT):
                defaults[keys[key].name] = _checked(command_name, command, keys[key], key, value, base,
                                                    _where(path, lines, (section, key),
                                                           f"[{section}] {key}" if section else key))
        for key, value in tables.get(command_name, {}).items():
            where = _where(path, lines, (command_name, key), f"[{command_name}] {key}")
            if key not in keys:
                raise ConfigError(f"{where}: {command_name} has no such option{_did_you_mean(key, keys)} (keys: "
                                  f"{', '.join(sorted(keys)) or 'none'})")
            defaults[keys[key].name] = _checked(command_name, command, keys[key], key, value, base, where)
        if defaults:
            default_map[command_name] = defaults
    for key, (section, _value) in shared.items():
        if not any(key in command_keys(c) for c in commands.values()):
            raise ConfigError(_where(path, lines, (section, key), f"[{section}] {key}") + ": no command takes it")
    return default_map


def _checked(command_name: str, command: click.Command, param: click.Parameter, key: str, value: Any, base: Path,
             where: str) -> Any:
    """`value` as default_map needs it (paths made absolute, an array for a comma list joined), after the checks
    the command line would make: its TOML type, then the option's own type and callback."""
    from graph.redact import redact_text

    multiple = getattr(param, "multiple", False) or param.nargs != 1
    is_flag = getattr(param, "is_flag", False)
    if multiple:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected an array, e.g. {key} = [{_example(param)}]")
        items = value
    elif key in COMMA_LIST_KEYS and isinstance(value, list):
        items = value
    else:
        items = [value]
    for item in items:
        expected = _toml_type(param, is_flag)
        if not isinstance(item, expected) or (isinstance(item, bool) and expected is not bool):
            got = type(item).__name__ if not isinstance(item, (dict, list)) else ("a table" if isinstance(item, dict)
                                                                                  else "an array")
            raise ConfigError(f"{where}: expected {_type_words(expected, key in COMMA_LIST_KEYS, multiple)}, got "
                              f"{got}")
    if key in COMMA_LIST_KEYS and isinstance(value, list):
        if any("," in item for item in items):
            raise ConfigError(f"{where}: one word per array item")
        value = ",".join(items)
        items = [value]
    if key in PATH_KEYS:
        items = [_resolve(item, base) for item in items]
        value = items if multiple else items[0]
    if key == "slack_webhook_env":  # checked before the callback, whose message would not name the file
        try:
            env_var_name(value)
        except ValueError as error:
            raise ConfigError(f"{where}: {error}") from None
    ctx = click.Context(command, info_name=command_name)
    try:
        if not isinstance(param.type, click.Path):  # a path is checked when the command runs, if still used
            converted = tuple(param.type.convert(i, param, ctx) for i in items) if multiple else \
                param.type.convert(items[0], param, ctx)
            if param.callback is not None:
                param.callback(ctx, param, converted)
    except click.BadParameter as error:
        raise ConfigError(redact_text(f"{where}: {error.message}")) from None
    return value


def _toml_type(param: click.Parameter, is_flag: bool) -> type | tuple[type, ...]:
    if is_flag or isinstance(param.type, click.types.BoolParamType):
        return bool
    if isinstance(param.type, click.types.IntParamType):  # IntRange too
        return int
    if isinstance(param.type, click.types.FloatParamType):
        return (int, float)
    return str


_TYPE_WORDS = {bool: ("true or false", "booleans"), int: ("an integer", "integers"), str: ("a string", "strings")}


def _type_words(expected, comma_list: bool, multiple: bool) -> str:
    one, many = _TYPE_WORDS.get(expected, ("a number", "numbers"))
    if comma_list:
        return "an array of strings"
    return f"an array of {many}" if multiple else one


def _example(param: click.Parameter) -> str:
    return '"eu-west-1"' if param.name == "regions" else '"..."'


def _resolve(value: str, base: Path) -> str:
    """A path from the file, relative to the file's folder ('~' expanded); URLs and '-' (stdin, stdout) stay."""
    if value == "-" or _SCHEME.match(value):
        return value
    expanded = os.path.expanduser(value)
    if os.path.isabs(expanded):
        return expanded
    folder = str(base)
    if glob.has_magic(expanded) and glob.has_magic(folder):
        folder = glob.escape(folder)  # the folder's own [ or * must not turn into a pattern
    return os.path.join(folder, expanded)


def _read(path: Path) -> str:
    try:
        if path.is_dir():
            raise ConfigError(f"{path}: a folder, not a configuration file")
        if path.exists() and not path.is_file():  # a FIFO or a device would block or never end
            raise ConfigError(f"{path}: not a regular file")
        with open(path, "rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as error:
        raise ConfigError(f"{path}: {error.strerror or error}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES >> 20} MiB: not a configuration file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text") from None


_TABLE = re.compile(r"^\s*\[\s*([A-Za-z0-9_-]+|\"[^\"]*\")\s*\]")
_KEY = re.compile(r"^\s*([A-Za-z0-9_-]+|\"[^\"]*\")\s*=")


def _key_lines(text: str) -> dict[tuple[str | None, str], int]:
    """(table, key) -> the line it is written on, for error messages (tomllib gives lines for syntax errors
    only). Tables are keyed as (None, name). Best effort: a key written in another way has no line."""
    lines: dict[tuple[str | None, str], int] = {}
    table = None
    in_multiline = False
    for number, line in enumerate(text.splitlines(), 1):
        if in_multiline:
            in_multiline = line.count('"""') % 2 == 0 and line.count("'''") % 2 == 0
            continue
        if match := _TABLE.match(line):
            table = match.group(1).strip('"')
            lines.setdefault((None, table), number)
        elif match := _KEY.match(line):
            lines.setdefault((table, match.group(1).strip('"')), number)
        in_multiline = line.count('"""') % 2 == 1 or line.count("'''") % 2 == 1
    return lines


def _where(path: Path, lines: Mapping[tuple[str | None, str], int], at: tuple[str | None, str], shown: str) -> str:
    line = lines.get(at)
    return f"{path}:{line}: {shown}" if line else f"{path}: {shown}"


def _did_you_mean(word: str, known) -> str:
    close = difflib.get_close_matches(word, list(known), n=1)
    return f" (did you mean {close[0]}?)" if close else ""
