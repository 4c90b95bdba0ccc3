"""Finding and reading local input files safely: walks and globs that always end, regular files only, sizes capped.

Both file importers (Terraform states, CloudFormation templates) find their inputs here, so that a symlink loop,
a FIFO, a device or a huge file cannot hang a scan or exhaust its memory, and a folder that cannot be read is
named rather than skipped: the resources its files would have declared are then unknown, not unmanaged.

Symbolic links are followed, each folder once (by device and inode): a loop ends, and a folder reached both
directly and through a link is listed under its direct path, because real folders are walked before links.
"""

from __future__ import annotations

import errno
import fnmatch
import glob
import os
import stat
from dataclasses import dataclass
from typing import Callable

ERROR, REFUSED = "error", "refused"

KiB, MiB = 1 << 10, 1 << 20
# A Terraform state is legitimately large (tens of MB for a big workspace); this only stops a runaway input.
DEFAULT_MAX_BYTES = 256 * MiB
LIMIT_OPTION = "--max-input-mb"  # the CLI option that raises the limit, named in the refusal

_CHUNK = 1 * MiB
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)


class InputProblem(Exception):
    """An input we cannot (`status` "error") or will not ("refused") read; `reason` does not repeat its path."""

    def __init__(self, reason: str, status: str = ERROR):
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class Found:
    """A file a location names, or (with `problem` set) a path that could not be looked at."""

    path: str
    explicit: bool  # named or matched by a pattern, rather than picked up by walking a folder
    problem: str | None = None
    status: str = ERROR
    matched: bool = False  # matched by a pattern, not named: a `dir/*` picks up READMEs too


# ------------------------------------------------------------------------------------------------ finding


def find_files(
    location: str,
    wanted: Callable[[str], bool],
    skip_folder: Callable[[str], bool] = lambda name: False,
) -> list[Found]:
    """The files one location names: itself, the `wanted` files under it when it is a folder, or a glob's matches
    (folders among them walked likewise); problems in place, in a stable order. An empty list means a folder
    without a wanted file.

    `wanted` and `skip_folder` judge names met while walking a folder; a file named or matched is always taken
    (`matched` tells the caller which were only matched). A location that exists is what it names, even when it
    reads as a pattern: `a[1].tfstate` is that file, not `a1.tfstate`."""
    location = os.path.expanduser(location)
    if glob.has_magic(location) and not os.path.lexists(location):
        matches, problems = _expand_pattern(location)
        if not matches and not problems:
            return [Found(location, True, "no file matches this pattern")]
        found = list(problems)
        for match in matches:
            found += _walk(match, wanted, skip_folder) if os.path.isdir(match) else [_check_file(match, True, True)]
        return _unique(found)
    if os.path.isdir(location):
        return _walk(location, wanted, skip_folder)
    return [_check_file(location, True)]


def _unique(found: list[Found]) -> list[Found]:
    """One entry a path: a pattern may match a folder and a file inside it."""
    seen: set[str] = set()
    return [f for f in found if not (f.path in seen or seen.add(f.path))]


def _walk(root: str, wanted: Callable[[str], bool], skip_folder: Callable[[str], bool]) -> list[Found]:
    """Wanted files under `root`: a folder's own files, then its subfolders in name order; links last."""
    found: list[Found] = []
    visited: set[tuple[int, int]] = set()
    for folder, entries in _folders(root, visited, lambda entry: not skip_folder(entry.name), found):
        for entry in entries:
            if not _is_folder(entry) and wanted(entry.name):
                found.append(_check_file(entry.path, False))
    return found


def _folders(root: str, visited: set, descend: Callable[[os.DirEntry], bool], problems: list[Found]):
    """(folder, its sorted entries) for `root` and every folder below it that `descend` accepts, each once.

    Real folders come first, depth first; folders reached through a symbolic link after, so that a folder
    reachable both ways is listed under its real path. An unreadable folder becomes a problem in `problems`."""
    pending = [root]
    linked: list[str] = []
    while pending or linked:
        folder = pending.pop() if pending else linked.pop(0)
        identity = _identity(folder)
        if identity is None or identity in visited:
            continue  # gone since it was listed, or already walked (a loop, or a second link to it)
        visited.add(identity)
        entries = _entries(folder, problems)
        if entries is None:
            continue
        yield folder, entries
        subfolders = [e for e in entries if _is_folder(e) and descend(e)]
        pending += [e.path for e in reversed(subfolders) if not e.is_symlink()]
        linked += [e.path for e in subfolders if e.is_symlink()]


def _expand_pattern(pattern: str) -> tuple[list[str], list[Found]]:
    """A glob's matches, sorted, and the folders that could not be read on the way.

    `glob.glob(recursive=True)` follows symbolic link loops without end; this matches one part at a time and
    visits each folder once for each part of the pattern. `*` and `**` leave out names starting with a dot,
    as the shell does; a trailing `**` matches the folder itself, which the caller walks. A part that is the
    name of an entry as it stands matches it too (`env[prod]/*.tfstate`)."""
    parts = [p for p in pattern.split(os.sep) if p]
    fixed = 0
    while not glob.has_magic(parts[fixed]):
        fixed += 1
    base = os.path.join(os.sep if pattern.startswith(os.sep) else "", *parts[:fixed])
    rest = parts[fixed:]
    matches: set[str] = set()
    problems: list[Found] = []
    problem_paths: set[str] = set()
    visited: set[tuple[int, int, int]] = set()
    pending: list[tuple[str, int]] = [(base, 0)]
    linked: list[tuple[str, int]] = []
    while pending or linked:
        folder, position = pending.pop() if pending else linked.pop(0)
        identity = _identity(folder or os.curdir)
        if identity is None or (*identity, position) in visited:
            continue
        visited.add((*identity, position))
        part, last = rest[position], position == len(rest) - 1
        if part == "**" and last:
            matches.add(folder)
            continue
        failures: list[Found] = []
        entries = _entries(folder or os.curdir, failures)
        if entries is None:
            problems += [f for f in failures if f.path not in problem_paths]
            problem_paths.update(f.path for f in failures)
            continue
        steps: list[tuple[os.DirEntry, int]] = []
        if part == "**":
            pending.append((folder, position + 1))  # zero folders
            steps = [(e, position) for e in entries if _is_folder(e) and not e.name.startswith(".")]
        else:
            for entry in entries:
                if not (entry.name == part or fnmatch.fnmatchcase(entry.name, part)):
                    continue
                if entry.name.startswith(".") and not part.startswith("."):
                    continue
                if last:
                    matches.add(os.path.join(folder, entry.name))
                elif _is_folder(entry):
                    steps.append((entry, position + 1))
        for entry, next_position in reversed(steps):
            (linked if entry.is_symlink() else pending).append((os.path.join(folder, entry.name), next_position))
    return sorted(matches), problems


def _entries(folder: str, problems: list[Found]) -> list[os.DirEntry] | None:
    try:
        with os.scandir(folder) as listing:
            return sorted(listing, key=lambda entry: entry.name)
    except OSError as error:
        reason = f"folder cannot be read ({_reason(error)}): the files in it were not seen"
        problems.append(Found(folder, False, reason))
        return None


def _is_folder(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()  # follows a link: a link to a folder is a folder
    except OSError:
        return False


def _identity(path: str) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino) if stat.S_ISDIR(info.st_mode) else None


def _check_file(path: str, explicit: bool, matched: bool = False) -> Found:
    """`path` as an input, or the reason it is not one (missing, not a regular file), found before opening it."""
    try:
        _require_regular(os.stat(path))
    except OSError as error:
        return Found(path, explicit, _missing_reason(path, error), matched=matched)
    except InputProblem as problem:
        return Found(path, explicit, problem.reason, problem.status, matched=matched)
    return Found(path, explicit, matched=matched)


# ------------------------------------------------------------------------------------------------ reading


def read_file(path: str, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The whole of a regular file of at most `max_bytes`, or InputProblem saying why not.

    Never blocks and never reads more than `max_bytes` + 1: anything but a regular file is refused before it is
    opened (opening a FIFO for reading waits for a writer), checked again once open (it may have been swapped),
    and the bytes are counted as they come, because stat says 0 for /proc files of any length."""
    data = _read_regular(path, max_bytes + 1, refuse_over=max_bytes)
    if len(data) > max_bytes:
        raise InputProblem(too_large(None, max_bytes), REFUSED)
    return data


def read_head(path: str, size: int) -> bytes:
    """The first `size` bytes of a regular file (fewer if it is shorter), to tell what it is without reading it
    all; InputProblem when it is not a regular file or cannot be read, as for `read_file`."""
    return _read_regular(path, size)


def _read_regular(path: str, at_most: int, refuse_over: int | None = None) -> bytes:
    """At most `at_most` bytes of a regular file; refused unread when its size says more than `refuse_over`."""
    try:
        _require_regular(os.stat(path))
        descriptor = os.open(path, _OPEN_FLAGS)
    except OSError as error:
        raise InputProblem(_missing_reason(path, error)) from None
    try:
        info = os.fstat(descriptor)
        _require_regular(info)
        if refuse_over is not None and info.st_size > refuse_over:
            raise InputProblem(too_large(info.st_size, refuse_over), REFUSED)
        chunks: list[bytes] = []
        remaining = at_most
        while remaining > 0:
            chunk = os.read(descriptor, min(remaining, _CHUNK))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except OSError as error:
        raise InputProblem(_reason(error)) from None
    finally:
        os.close(descriptor)
    return b"".join(chunks)


def too_large(size: int | None, max_bytes: int) -> str:
    """The refusal of an input over the limit (`size` None when only reading found it out)."""
    limit = format_size(max_bytes)
    what = f"{format_size(size)}, over the {limit} limit" if size is not None else f"more than {limit}, the limit"
    return f"{what} for one input file; not read (raise the limit with {LIMIT_OPTION})"


def format_size(size: int) -> str:
    if size < MiB:
        return f"{size:,} bytes"
    return f"{size / MiB:.1f}".removesuffix(".0") + " MiB"


_FILE_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a folder"),
)


def _require_regular(info: os.stat_result) -> None:
    if stat.S_ISREG(info.st_mode):
        return
    kind = next((name for test, name in _FILE_KINDS if test(info.st_mode)), "not a file")
    raise InputProblem(f"{kind}, not a regular file: not read")


def _missing_reason(path: str, error: OSError) -> str:
    if isinstance(error, FileNotFoundError) and os.path.islink(path):
        return "a broken symbolic link (its target does not exist)"
    return _reason(error)


def _reason(error: OSError) -> str:
    if isinstance(error, FileNotFoundError):
        return "no such file"
    if isinstance(error, PermissionError):
        return "permission denied"
    if isinstance(error, IsADirectoryError):
        return "is a folder, not a file"
    if error.errno == errno.ELOOP:
        return "a loop of symbolic links"
    return f"cannot be read ({(error.strerror or type(error).__name__).lower()})"
