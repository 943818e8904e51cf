"""The release workflow, its composite actions and tools/release-workflow.sh: consistent with each other and gl-ocm.

Checks what actionlint cannot: that no `${{ }}` expression reaches a shell script (inputs and matrix values go through
`env:`, or they are script injection), that every flag the scripts pass is an option of the gl-ocm command, and that
the script runs the actions' scripts line for line. actionlint itself runs last (`make tools` builds it).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from typer.testing import CliRunner

from gardenlinux_ocm.cli import app
from gardenlinux_ocm.spec import load_release
from support.release import COMPONENTS, REPO, VERSION
from support.tools import go_tool

ACTIONS = REPO / ".github" / "actions"
WORKFLOW = REPO / ".github" / "workflows" / "release.yml"
SCRIPT = REPO / "tools" / "release-workflow.sh"
# Commands being written elsewhere, with the flags their documentation gives; checked against --help once they exist.
PENDING = {"tag": {"--alias"}, "download": {"--flavor", "-o"}}
MIRRORED = ("publish-flavor", "publish-containers", "assemble", "verify")  # action == function of the script
SHA_OR_MAJOR = re.compile(r"[\w.-]+/[\w.-]+(/[\w./-]+)?@(v\d+|[0-9a-f]{40})")
FLAG = re.compile(r"-{1,2}[A-Za-z][\w-]*")
_PUNCTUATION = set("();<>|&")  # shlex's punctuation_chars: a run of them is one token, e.g. `);`


class Call(NamedTuple):
    """One gl-ocm invocation: the subcommand (None for `gl-ocm --version`) and the flags it may pass."""

    command: str | None
    flags: frozenset[str]


def _load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict), path
    return document


def _workflow() -> dict[str, Any]:
    return _load(WORKFLOW)


def _actions() -> dict[str, dict[str, Any]]:
    return {p.parent.name: _load(p) for p in sorted(ACTIONS.glob("*/action.yml"))}


def _steps() -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, step) for every step of the workflow's jobs and of the composite actions."""
    for job_id, job in _workflow()["jobs"].items():
        for n, step in enumerate(job["steps"]):
            yield f"{WORKFLOW.name} job {job_id} step {n}", step
    for name, action in _actions().items():
        for n, step in enumerate(action["runs"]["steps"]):
            yield f"action {name} step {n}", step


def _run_scripts() -> list[tuple[str, str]]:
    return [(where, step["run"]) for where, step in _steps() if "run" in step]


def _separator(token: str) -> bool:
    return set(token) <= _PUNCTUATION or token in ("{", "}")


def _tokens(line: str) -> list[str]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError:  # an unbalanced quote in a line of a heredoc: not a command line
        return []


def _calls(script: str) -> list[Call]:
    """The gl-ocm calls of a bash script; `gl-ocm "${args[@]}"` takes the flags of every `args=(…)`/`args+=(…)`."""
    calls: list[Call] = []
    args: list[str] = []
    for line in script.replace("\\\n", " ").splitlines():
        tokens = _tokens(line)
        for i, token in enumerate(tokens):
            if token in ("args=", "args+=") and tokens[i + 1 : i + 2] == ["("]:
                end = next(j for j in range(i + 2, len(tokens)) if _separator(tokens[j]) and ")" in tokens[j])
                args = (args if token == "args+=" else []) + tokens[i + 2 : end]
            elif token == "gl-ocm" and i + 1 < len(tokens) and not _separator(tokens[i + 1]):
                rest = []
                for t in tokens[i + 1 :]:
                    if _separator(t):
                        break
                    rest.append(t)
                argv = args + rest[1:] if rest[0] == "${args[@]}" else rest
                command = None if argv[0].startswith("-") else argv[0]
                calls.append(Call(command, frozenset(t for t in argv if FLAG.fullmatch(t))))
    return calls


def _script_functions() -> dict[str, list[str]]:
    """The functions of tools/release-workflow.sh: name -> body lines, stripped, without the `local` line."""
    text = SCRIPT.read_text(encoding="utf-8")
    return {
        m.group(1): [line.strip() for line in m.group(2).splitlines() if not line.strip().startswith("local ")]
        for m in re.finditer(r"^(\w+)\(\) \{[^\n]*\n(.*?)^\}", text, re.MULTILINE | re.DOTALL)
    }


def _help(*command: str) -> str:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "120", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    return result.output


def _options(command: str) -> set[str]:
    """The flags `gl-ocm COMMAND --help` lists under Options."""
    options = _help(command).split("\nOptions:", 1)[1]
    return set(re.findall(r"(?<![\w-])(-{1,2}[A-Za-z][\w-]*)", options))


def _commands() -> set[str]:
    """The commands `gl-ocm --help` lists."""
    listed = _help().split("\nCommands:", 1)[1]
    return {m.group(1) for m in re.finditer(r"^ {2}([a-z][\w-]*)", listed, re.MULTILINE)}


# -- the shape of the files


def test_every_local_action_the_workflow_uses_exists_and_every_action_is_used() -> None:
    used = {step["uses"] for _, step in _steps() if str(step.get("uses", "")).startswith("./")}
    assert used, "the workflow uses no local action"
    missing = sorted(u for u in used if not (REPO / u / "action.yml").is_file())
    assert missing == []
    assert {f"./.github/actions/{name}" for name in _actions()} == used


def test_the_workflow_passes_only_declared_inputs_and_every_required_one() -> None:
    actions = _actions()
    problems = []
    for where, step in _steps():
        uses = str(step.get("uses", ""))
        if not uses.startswith("./.github/actions/"):
            continue
        inputs = actions[uses.rsplit("/", 1)[1]].get("inputs") or {}
        given = set(step.get("with") or {})
        problems += [f"{where}: {uses} has no input {k!r}" for k in sorted(given - set(inputs))]
        problems += [f"{where}: {uses} needs input {k!r}" for k, spec in inputs.items()
                     if spec.get("required") and "default" not in spec and k not in given]
    assert problems == []


def test_every_action_and_input_is_described_and_every_script_is_strict_bash() -> None:
    problems = []
    for name, action in _actions().items():
        if not action.get("description"):
            problems.append(f"action {name}: no description")
        problems += [f"action {name}: input {k!r} has no description"
                     for k, spec in (action.get("inputs") or {}).items() if not (spec or {}).get("description")]
        assert action["runs"]["using"] == "composite", name
    for where, step in _steps():
        if "run" in step:
            if step.get("shell") != "bash":
                problems.append(f"{where}: shell is {step.get('shell')!r}, not bash")
            if step["run"].splitlines()[0] != "set -euo pipefail":
                problems.append(f"{where}: the script does not start with `set -euo pipefail`")
    assert problems == []


def test_no_expression_is_interpolated_into_a_script() -> None:
    """`${{ inputs.x }}` in `run:` is pasted into the script text before bash sees it: script injection."""
    hits = [f"{where}: {line.strip()}" for where, run in _run_scripts() for line in run.splitlines() if "${{" in line]
    assert hits == [], "pass the values through env: and use $NAME in the script"


def test_third_party_actions_are_pinned_and_permissions_are_least() -> None:
    unpinned = [f"{where}: {step['uses']}" for where, step in _steps()
                if "uses" in step and not str(step["uses"]).startswith("./")
                and not SHA_OR_MAJOR.fullmatch(str(step["uses"]))]
    assert unpinned == []
    workflow = _workflow()
    assert workflow["permissions"] == {"contents": "read"}
    assert "version" in workflow["concurrency"]["group"] and workflow["concurrency"]["cancel-in-progress"] is False
    writers = {job_id for job_id, job in workflow["jobs"].items()
               if (job.get("permissions") or {}).get("packages") == "write"}
    assert writers == {"publish", "containers", "assemble", "sign", "tag"}
    assert all(set(job.get("permissions", {"contents": "read"})) <= {"contents", "packages"}
               for job in workflow["jobs"].values())


def test_the_jobs_fan_out_without_serialisation_then_assemble_sign_verify_tag() -> None:
    jobs = _workflow()["jobs"]
    for job_id in ("build", "publish"):
        strategy = jobs[job_id]["strategy"]
        assert strategy.get("max-parallel", 2) > 1, f"{job_id}: the design needs no serialisation"
        assert strategy["matrix"]["include"] == "${{ fromJSON(needs.plan.outputs.flavors) }}"
    assert set(jobs["assemble"]["needs"]) == {"publish", "containers"}
    assert (jobs["sign"]["needs"], jobs["verify"]["needs"], jobs["tag"]["needs"]) == ("assemble", "sign", "verify")
    on = _workflow().get("on", _workflow().get(True))  # YAML 1.1 reads the key `on` as true
    assert on["workflow_dispatch"]["inputs"]["version"]["required"] is True


def test_the_plan_job_lists_every_flavor_of_the_release_with_its_architecture(tmp_path: Path) -> None:
    step = next(s for s in _workflow()["jobs"]["plan"]["steps"] if s.get("id") == "flavors")
    code = step["run"].split("<<'EOF'\n", 1)[1].split("\nEOF", 1)[0]
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env={**os.environ, "VERSION": VERSION},
                         capture_output=True, text=True, check=True).stdout
    key, value = out.strip().split("=", 1)
    spec = load_release(COMPONENTS, VERSION)
    assert key == "flavors"
    assert json.loads(value) == [{"flavor": f.name, "arch": f.arch} for f in spec.flavors]


# -- gl-ocm as the scripts call it


def test_every_gl_ocm_flag_the_scripts_pass_is_an_option_of_its_command() -> None:
    scripts = [*_run_scripts(), (SCRIPT.name, SCRIPT.read_text(encoding="utf-8"))]
    calls = [(where, call) for where, run in scripts for call in _calls(run)]
    assert {c.command for _, c in calls} >= {"publish", "assemble", "sign", "verify", "tag", "download"}
    known = _commands()
    problems = []
    for where, call in calls:
        if call.command is None:
            continue
        if call.command in known:
            options = _options(call.command)
        elif call.command in PENDING:  # not merged yet: its documented flags
            options = PENDING[call.command]
        else:
            problems.append(f"{where}: gl-ocm has no command {call.command!r}")
            continue
        problems += [f"{where}: gl-ocm {call.command} has no option {f}" for f in sorted(call.flags - options)]
    assert problems == []


def test_the_script_runs_each_mirrored_actions_script_line_for_line() -> None:
    functions = _script_functions()
    actions = _actions()
    for name in MIRRORED:
        (step,) = [s for s in actions[name]["runs"]["steps"] if "run" in s]
        lines = [line.strip() for line in step["run"].splitlines()[1:] if line.strip()]  # without set -euo pipefail
        function = name.replace("-", "_")
        assert function in functions, f"{SCRIPT.name} has no function {function} for .github/actions/{name}"
        assert functions[function] == lines, f"{SCRIPT.name} {function} differs from .github/actions/{name}"


def test_the_script_and_the_workflow_run_the_same_commands_with_the_same_flags() -> None:
    workflow = {c for _, run in _run_scripts() for c in _calls(run) if c.command and c.command not in PENDING}
    script = set(_calls(SCRIPT.read_text(encoding="utf-8")))
    assert script == workflow
    publish = {c.flags for c in script if c.command == "publish"}
    assert any("--containers" in f for f in publish) and any("--flavor" in f for f in publish)


def test_the_call_parser_reads_arrays_and_direct_calls() -> None:
    script = 'args=(verify "$T")\nif [ -n "$K" ]; then args+=(--public-key "$K"); fi\ngl-ocm "${args[@]}"\n' \
             'gl-ocm sample-artefacts "$V" -o "$D" \\\n  --components c  # comment --no\nx=$(command -v gl-ocm)\n'
    assert _calls(script) == [Call("verify", frozenset({"--public-key"})),
                              Call("sample-artefacts", frozenset({"-o", "--components"}))]


# -- actionlint


def test_actionlint_passes() -> None:
    """actionlint (pinned in tools/actionlint) checks the workflow and the local actions it uses; shellcheck when
    it is on PATH."""
    actionlint = go_tool("actionlint")
    result = subprocess.run([actionlint, "-no-color", str(WORKFLOW.relative_to(REPO))], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
