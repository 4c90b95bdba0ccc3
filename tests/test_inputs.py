"""Finding and reading local inputs: unreadable folders named, symlink loops and FIFOs that cannot hang a scan,
devices never read, sizes capped; through both importers that use it."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from importers import inputs
from importers.cloudformation import template_paths
from importers.terraform_state import load_terraform_states

REPO = Path(__file__).resolve().parents[1]
V4 = REPO / "fixtures" / "tfstate" / "v4-modules-count-foreach.tfstate"
V3 = REPO / "fixtures" / "tfstate" / "v3-flat-count.tfstate"
# Generous bounds: they only turn a hang (the bugs these tests guard against) into a failure, never time a pass.
HANG_TIMEOUT = 120

# The scripts import all they need, then drop privileges when asked (argv[2]): the interpreter may live where
# nobody may read (/root/.pyenv), so the drop cannot happen before it starts.
DROP = """
import os
if sys.argv[2] == "nobody" and os.geteuid() == 0:
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
"""

LOAD_STATES = """
import dataclasses, json, sys
from importers.terraform_state import load_terraform_states
""" + DROP + """
result = load_terraform_states(**json.loads(sys.argv[1]))
print(json.dumps({"sources": result.sources, "errors": [dataclasses.asdict(e) for e in result.errors]}))
"""

FIND_TEMPLATES = """
import dataclasses, json, sys
from importers.cloudformation import template_paths
""" + DROP + """
found, errors = template_paths(json.loads(sys.argv[1]))
print(json.dumps({"found": [[str(p), explicit] for p, explicit in found],
                  "errors": [dataclasses.asdict(e) for e in errors]}))
"""


def run_python(script: str, argument, as_nobody: bool = False, memory_limit: int | None = None) -> dict:
    """`script` in a fresh interpreter (its JSON output), so that a hang or a runaway read fails this test alone.

    Tests run as root, and root reads through chmod 000: `as_nobody` makes the script drop to uid/gid 65534."""

    def restrict():
        if memory_limit:
            resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))

    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(argument), "nobody" if as_nobody else "self"],
        capture_output=True, text=True, timeout=HANG_TIMEOUT, preexec_fn=restrict,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture()
def public_tree():
    """A folder every user may read (pytest's own tmp_path is private to root), removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="driftgraph-inputs-"))
    path.chmod(0o755)
    yield path
    for folder, dirs, _ in os.walk(path):  # give back what a test locked, so that a non-root user can remove it
        for name in dirs:
            if not os.path.islink(os.path.join(folder, name)):
                os.chmod(os.path.join(folder, name), 0o755)
    shutil.rmtree(path)


def _publish(root: Path) -> None:
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            os.chmod(os.path.join(folder, name), 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)


def _rows(output: dict) -> list[tuple[str, str]]:
    return [(row["path"], row["status"]) for row in output["sources"]]


# ------------------------------------------------------------------------------------ unreadable folders


def test_an_unreadable_state_subfolder_is_an_error_naming_it_and_the_rest_still_loads(public_tree):
    shutil.copy(V4, public_tree / "a.tfstate")
    locked = public_tree / "locked"
    locked.mkdir()
    shutil.copy(V3, locked / "hidden.tfstate")
    (public_tree / "zz").mkdir()
    shutil.copy(V3, public_tree / "zz" / "c.tfstate")
    _publish(public_tree)
    locked.chmod(0)
    walked = run_python(LOAD_STATES, {"locations": [str(public_tree)]}, as_nobody=True)
    globbed = run_python(LOAD_STATES, {"locations": [str(public_tree / "**" / "*.tfstate")]}, as_nobody=True)
    for output in (walked, globbed):
        assert sorted(_rows(output)) == [
            (str(public_tree / "a.tfstate"), "loaded"),
            (str(locked), "error"),
            (str(public_tree / "zz" / "c.tfstate"), "loaded"),
        ]
        (error,) = output["errors"]
        assert error["source"] == str(locked) and error["kind"] == "error"
        assert error["message"] == f"{locked}: folder cannot be read (permission denied): the files in it were not seen"
        assert [row["message"] for row in output["sources"] if row["status"] == "error"] == [error["message"]]


def test_an_unreadable_template_subfolder_is_an_error_naming_it(public_tree):
    (public_tree / "good.yaml").write_text("Resources: {}\n")
    locked = public_tree / "locked"
    locked.mkdir()
    (locked / "hidden.yaml").write_text("Resources: {}\n")
    _publish(public_tree)
    locked.chmod(0)
    output = run_python(FIND_TEMPLATES, [str(public_tree)], as_nobody=True)
    assert output["found"] == [[str(public_tree / "good.yaml"), False]]
    (error,) = output["errors"]
    assert error["source"] == str(locked) and error["kind"] == "error"
    assert "folder cannot be read (permission denied)" in error["message"]


def test_a_state_file_that_cannot_be_opened_says_permission_denied(public_tree):
    locked = public_tree / "locked.tfstate"
    shutil.copy(V4, locked)
    shutil.copy(V3, public_tree / "open.tfstate")
    _publish(public_tree)
    locked.chmod(0)
    output = run_python(LOAD_STATES, {"locations": [str(locked), str(public_tree / "open.tfstate")]}, as_nobody=True)
    assert _rows(output) == [(str(locked), "error"), (str(public_tree / "open.tfstate"), "loaded")]
    assert output["errors"][0]["message"] == f"{locked}: permission denied"


# ---------------------------------------------------------------------------- loops, pipes, devices


def _tree_with_symlink_loops(root: Path) -> list[Path]:
    """Two states and links that make every walk that follows them blindly exponential (never finishing)."""
    states = [root / "a.tfstate", root / "sub" / "b.tfstate"]
    (root / "sub").mkdir()
    shutil.copy(V4, states[0])
    shutil.copy(V3, states[1])
    (root / "sub" / "back").symlink_to("..")
    (root / "sub" / "self").symlink_to(".")
    (root / "again").symlink_to("sub")
    return states


def test_symlink_loops_under_a_double_star_glob_and_a_walk_finish_with_each_state_once(public_tree):
    states = _tree_with_symlink_loops(public_tree)
    for location in (public_tree / "**" / "*.tfstate", public_tree):
        output = run_python(LOAD_STATES, {"locations": [str(location)]})
        # each folder is read once, by its real path rather than through a link
        assert _rows(output) == [(str(path), "loaded") for path in states], location
        assert output["errors"] == []


def test_a_symlinked_folder_is_followed_once(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(V3, elsewhere / "linked.tfstate")
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(V4, root / "own.tfstate")
    (root / "link").symlink_to(elsewhere)
    (root / "link2").symlink_to(elsewhere)
    result = load_terraform_states([str(root)])
    assert [(row["path"], row["status"]) for row in result.sources] == [
        (str(root / "own.tfstate"), "loaded"),
        (str(root / "link" / "linked.tfstate"), "loaded"),
    ]


def test_a_fifo_named_like_a_state_is_an_error_and_never_blocks(public_tree):
    shutil.copy(V4, public_tree / "a.tfstate")
    fifo = public_tree / "x.tfstate"
    os.mkfifo(fifo)
    for locations in ([str(public_tree)], [str(fifo), str(public_tree / "a.tfstate")]):
        output = run_python(LOAD_STATES, {"locations": locations})
        assert sorted(_rows(output)) == [(str(public_tree / "a.tfstate"), "loaded"), (str(fifo), "error")]
        (error,) = output["errors"]
        assert error["message"] == f"{fifo}: a named pipe (FIFO), not a regular file: not read"


def test_a_device_behind_a_state_name_is_never_read(public_tree):
    (public_tree / "big.tfstate").symlink_to("/dev/zero")
    # a regression reads /dev/zero until memory runs out: the limit makes that a MemoryError, not a dead machine
    output = run_python(LOAD_STATES, {"locations": [str(public_tree)]}, memory_limit=2 << 30)
    assert _rows(output) == [(str(public_tree / "big.tfstate"), "error")]
    assert output["errors"][0]["message"] == (
        f"{public_tree / 'big.tfstate'}: a character device, not a regular file: not read"
    )


def test_a_broken_link_named_like_a_state_is_an_error_saying_so(tmp_path):
    (tmp_path / "gone.tfstate").symlink_to(tmp_path / "nowhere.tfstate")
    result = load_terraform_states([str(tmp_path)])
    assert [(row["status"], row["message"]) for row in result.sources] == [
        ("error", f"{tmp_path / 'gone.tfstate'}: a broken symbolic link (its target does not exist)")]


def test_a_template_that_is_a_fifo_is_an_error_before_anyone_opens_it(tmp_path):
    os.mkfifo(tmp_path / "pipe.yaml")
    (tmp_path / "good.yaml").write_text("Resources: {}\n")
    found, errors = template_paths([str(tmp_path), str(tmp_path / "pipe.yaml")])
    assert found == [(tmp_path / "good.yaml", False)]
    assert [(e.source, e.message) for e in errors] == [
        (str(tmp_path / "pipe.yaml"), "a named pipe (FIFO), not a regular file: not read")] * 2


# ------------------------------------------------------------------------------------------- sizes


def test_a_state_over_the_cap_is_refused_saying_the_cap_and_how_to_raise_it(tmp_path):
    small = shutil.copy(V3, tmp_path / "small.tfstate")
    large = shutil.copy(V4, tmp_path / "large.tfstate")
    cap = os.path.getsize(large) - 1
    result = load_terraform_states([str(small), str(large)], max_bytes=cap)
    assert [(row["path"], row["status"]) for row in result.sources] == [(str(small), "loaded"), (str(large), "refused")]
    (error,) = result.errors
    assert error.source == str(large) and error.kind == "error"
    assert error.message == (
        f"{large}: {cap + 1:,} bytes, over the {cap:,} bytes limit for one input file; not read "
        "(raise the limit with --max-input-mb)"
    )


def test_the_default_cap_refuses_a_huge_state_from_its_size_alone(tmp_path):
    huge = tmp_path / "huge.tfstate"
    with open(huge, "wb") as handle:  # sparse: no disk is used, and a regression reads 300 MiB of zeros
        handle.truncate(300 << 20)
    (row,) = load_terraform_states([str(huge)]).sources
    assert row["status"] == "refused"
    assert row["message"] == (
        f"{huge}: 300 MiB, over the 256 MiB limit for one input file; not read (raise the limit with --max-input-mb)"
    )


def test_the_cap_holds_when_stat_says_a_file_is_empty(tmp_path):
    # /proc files have a size of 0 and any length: the reader counts what it reads, it does not trust stat
    link = tmp_path / "maps.tfstate"
    link.symlink_to("/proc/self/maps")
    assert os.stat(link).st_size == 0 and len(Path("/proc/self/maps").read_bytes()) > 1024
    (row,) = load_terraform_states([str(link)], max_bytes=1024).sources
    assert row["status"] == "refused"
    assert row["message"] == (
        f"{link}: more than 1,024 bytes, the limit for one input file; not read (raise the limit with --max-input-mb)"
    )


def test_read_file_reads_a_regular_file_up_to_the_cap_exactly(tmp_path):
    path = tmp_path / "exact.json"
    path.write_bytes(b"x" * 100)
    assert inputs.read_file(str(path), max_bytes=100) == b"x" * 100
    with pytest.raises(inputs.InputProblem) as refused:
        inputs.read_file(str(path), max_bytes=99)
    assert refused.value.status == "refused"


# ------------------------------------------------------------------------------------------- globs


def test_double_star_matches_at_any_depth_and_leaves_hidden_folders_out(tmp_path):
    for relative in ("top.tfstate", "a/b/deep.tfstate", "a/.terraform/cache.tfstate", ".hidden/x.tfstate",
                     "a/notes.txt"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(V3 if relative != "top.tfstate" else V4, tmp_path / relative)
    found = inputs.find_files(str(tmp_path / "**" / "*.tfstate"), lambda name: True)
    assert [(f.path, f.explicit, f.problem) for f in found] == [
        (str(tmp_path / "a" / "b" / "deep.tfstate"), True, None),
        (str(tmp_path / "top.tfstate"), True, None),
    ]
    # a match that is a folder is walked for the files the importer wants
    folders = inputs.find_files(str(tmp_path / "*"), lambda name: name.endswith(".tfstate"),
                                skip_folder=lambda name: name == ".terraform")
    assert [(f.path, f.explicit) for f in folders] == [
        (str(tmp_path / "a" / "b" / "deep.tfstate"), False),
        (str(tmp_path / "top.tfstate"), True),
    ]
    (nothing,) = inputs.find_files(str(tmp_path / "none-*.tfstate"), lambda name: True)
    assert nothing.problem == "no file matches this pattern"


def test_a_location_that_exists_is_taken_literally_even_if_it_reads_as_a_glob(tmp_path):
    shutil.copy(V4, tmp_path / "a[1].tfstate")
    shutil.copy(V3, tmp_path / "a1.tfstate")  # what `a[1].tfstate` means as a pattern: not what was named
    (tmp_path / "env[prod]").mkdir()
    shutil.copy(V3, tmp_path / "env[prod]" / "terraform.tfstate")
    (tmp_path / "stack[1]").mkdir()
    shutil.copy(V3, tmp_path / "stack[1]" / "x.tfstate")
    result = load_terraform_states([str(tmp_path / "a[1].tfstate"), str(tmp_path / "env[prod]"),
                                    str(tmp_path / "stack[1]" / "*.tfstate")])
    assert [(row["path"], row["status"]) for row in result.sources] == [
        (str(tmp_path / "a[1].tfstate"), "loaded"),
        (str(tmp_path / "env[prod]" / "terraform.tfstate"), "loaded"),
        (str(tmp_path / "stack[1]" / "x.tfstate"), "superseded"),  # the same state as env[prod]'s
    ]
    # a pattern that exists as no file is still a pattern
    found = inputs.find_files(str(tmp_path / "a[1x].tfstate"), lambda name: True)
    assert [f.path for f in found] == [str(tmp_path / "a1.tfstate")]


def test_a_template_whose_name_reads_as_a_glob_is_found(tmp_path):
    (tmp_path / "app[v2].yaml").write_text("Resources: {}\n")
    (tmp_path / "appv.yaml").write_text("Resources: {}\n")
    found, errors = template_paths([str(tmp_path / "app[v2].yaml")])
    assert (found, errors) == ([(tmp_path / "app[v2].yaml", True)], [])


def test_read_head_reads_at_most_what_is_asked(tmp_path):
    path = tmp_path / "big"
    path.write_bytes(b"x" * 10_000)
    assert inputs.read_head(str(path), 4096) == b"x" * 4096
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(inputs.InputProblem):  # a FIFO is refused before it is opened: nothing blocks
        inputs.read_head(str(tmp_path / "pipe"), 4096)
