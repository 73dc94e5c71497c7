"""Every `zoo …` and `python cli.py …` command in README.md and docs/ runs as written.

The commands are collected from the fenced shell blocks (``` with no language, bash, sh,
shell or console) and checked in document order in one workspace, a fresh folder holding a
copy of configs/ and the folders of images the docs ask the user to bring:

- training commands (``zoo fit/validate/test/predict``) go through the real CLI: parsed, every
  class built (model, datamodule, trainer, callbacks, logger), the data set up and a
  ``--ckpt_path`` checked to exist; only the loop itself is left out (``Trainer.fit`` and its
  siblings are replaced), so a 200-epoch config costs what its parsing costs;
- the zoo's own commands (``list``, ``info``, ``sample``, ``encode``, ``score``, ``translate``,
  ``prepare``, ``new-plugin``) run for real; checkpoints they read (``--ckpt runs/NAME``)
  come from one tiny real fit per model, made first;
- ``pip install`` of a local folder (the plugin guide) installs it into the workspace.

A command that needs what the user must fetch first (a download, object storage, a cluster)
carries the marker ``# needs: WHAT`` on its line, WHAT saying where it comes from, next to
the download itself. A marked training command is still parsed and built; only its data is
not set up (and where a datamodule reads its data when built, as ``streaming`` reads
``zoo.json``, the build may fail on that data alone, and the command must then parse with
``--print_config``). A marked command of another kind is not run.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import FAST_TRAINER, REPO
from tests.data.image_folders import write_images, write_unpaired

SHELL_FENCES = {"", "bash", "sh", "shell", "console"}
TRAINING = ("fit", "validate", "test", "predict")
NEEDS = re.compile(r"\s#\s*needs:\s*(?P<what>.*)$")
# Folders of images the docs ask the user to bring ("your own images"): the workspace has small ones.
USER_FOLDERS = ("my_images", "suspects", "photos", "labels", "upscaled", "zebras", "noisy")
# Data for the one tiny fit that gives `--ckpt runs/NAME` a checkpoint, where the model's default data is a download.
CHECKPOINT_DATA = {"pix2pix": ["--data", "super_resolution"]}


@dataclass(frozen=True)
class Command:
    page: str
    line: int
    text: str
    argv: tuple[str, ...]  # the zoo's arguments, after `zoo` / `python cli.py` / `-m zoo.cli`; empty for pip
    needs: str | None
    stdout_to: str | None = None
    pip_install: str | None = None

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def documented_pages() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def _zoo_arguments(tokens: list[str]) -> list[str] | None:
    """The zoo's arguments of a shell command line, or None when it is not a zoo command."""
    while tokens and re.fullmatch(r"[A-Z_]+=\S*", tokens[0]):  # PYTHONPATH=... zoo list
        tokens = tokens[1:]
    if tokens[:1] == ["srun"]:
        tokens = tokens[1:]
    if tokens[:1] == ["zoo"]:
        return tokens[1:]
    if tokens[:2] in (["python", "cli.py"], ["python3", "cli.py"]):
        return tokens[2:]
    if "zoo.cli" in tokens and tokens[tokens.index("zoo.cli") - 1] == "-m":  # torchrun ... -m zoo.cli fit ...
        return tokens[tokens.index("zoo.cli") + 1 :]
    return None


def commands_of(page: Path, text: str | None = None) -> list[Command]:
    text = page.read_text() if text is None else text
    name = str(page.relative_to(REPO)) if page.is_relative_to(REPO) else page.name
    found, fence, pending, start = [], None, "", 0
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("```"):
            fence = None if fence is not None else stripped[3:].strip()
            continue
        if fence not in SHELL_FENCES or fence is None:
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        whole, pending = (pending + stripped).removeprefix("$ "), ""
        if not whole or whole.startswith("#"):
            continue
        needs = NEEDS.search(whole)
        tokens = shlex.split(whole, comments=True)
        stdout_to = None
        if ">" in tokens:
            stdout_to = tokens[tokens.index(">") + 1]
            tokens = tokens[: tokens.index(">")]
        pip_target = tokens[-1] if tokens[:2] == ["pip", "install"] and tokens[-1].startswith((".", "/")) else None
        arguments = _zoo_arguments(tokens)
        if arguments is None and pip_target is None:
            continue
        found.append(Command(name, start, whole, tuple(arguments or ()), needs and needs["what"].strip(),
                             stdout_to, pip_target))
    return found


def all_commands() -> list[Command]:
    return [command for page in documented_pages() for command in commands_of(page)]


# ------------------------------------------------------------------ running them


def _run_main(argv: list[str]) -> str:
    """``zoo ARGV`` in this process; its stdout; a non-zero exit is a failure that shows its stderr."""
    from zoo.cli import main

    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            main(argv)
        except SystemExit as exit_:
            if exit_.code not in (0, None):
                raise AssertionError(f"zoo {shlex.join(argv)} exited {exit_.code}:\n{stderr.getvalue()[-3000:]}")
    return stdout.getvalue()


@contextlib.contextmanager
def loops_replaced(set_up_data: bool):
    """Trainer.fit/validate/test/predict that set the data up and check ``ckpt_path`` instead of looping."""
    from lightning.pytorch import Trainer

    saved = {name: getattr(Trainer, name) for name in TRAINING}

    def replacement(stage):
        def check(trainer, model=None, *args, datamodule=None, ckpt_path=None, **kwargs):
            assert model is not None
            if ckpt_path is not None and ckpt_path not in ("last", "best"):
                assert Path(ckpt_path).is_file(), f"--ckpt_path {ckpt_path} does not exist"
            if set_up_data and datamodule is not None:
                datamodule.setup(stage)
        return check

    for stage in TRAINING:  # the Trainer's method and the datamodule's stage share their names
        setattr(Trainer, stage, replacement(stage))
    try:
        yield
    finally:
        for name, method in saved.items():
            setattr(Trainer, name, method)


def check(command: Command, workspace: Path) -> None:
    """Run one documented command in the workspace as the module docstring says; raise if it fails."""
    if command.needs is not None:
        assert len(command.needs) >= 8, f"{command.id}: `# needs:` must say what and where from"
    if "--data.download" in command.argv and command.needs is None:
        raise AssertionError(f"{command.id}: a download cannot run offline; mark it `# needs: ...`")
    if command.pip_install is not None:
        site = workspace / "site"
        subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--quiet",
                        "--target", str(site), command.pip_install], check=True, capture_output=True, timeout=120)
        if str(site) not in sys.path:
            sys.path.insert(0, str(site))
        from zoo import registry

        registry.entries.cache_clear()
        return
    argv = list(command.argv)
    if argv and argv[0] in TRAINING:
        with loops_replaced(set_up_data=command.needs is None):
            try:
                output = _run_main(argv)
            except AssertionError as error:
                # A datamodule that reads its data when built (streaming's zoo.json) cannot be built without
                # the data the mark names: then that must be the only complaint, and the rest must parse.
                root = argv[argv.index("--data.root") + 1] if "--data.root" in argv else None
                model = argv[argv.index("--model") + 1] if "--model" in argv else None
                if command.needs is not None and model and model in command.needs \
                        and f"unknown model '{model}'" in str(error):
                    return  # a plugin the user installs first, as the mark says (tests/test_bring_your_own.py)
                if command.needs is None or root is None or root not in str(error):
                    raise
                output = _run_main([*argv, "--print_config"])
    elif command.needs is not None:
        return
    else:
        output = _run_main(argv)
    if command.stdout_to:
        (workspace / command.stdout_to).write_text(output)


def checkpoint_models(commands: list[Command]) -> list[str]:
    """Models whose run folder an unmarked command reads (``--ckpt runs/NAME``, ``--ckpt_path runs/NAME/…``)."""
    names = []
    for command in commands:
        for option in ("--ckpt", "--ckpt_path"):
            if option in command.argv and command.needs is None:
                value = command.argv[command.argv.index(option) + 1]
                name = Path(value).parts[1] if value.startswith("runs/") else None
                if name and name not in names:
                    names.append(name)
    return names


def documented_fit_named(commands: list[Command], name: str) -> list[str] | None:
    """The arguments of the unmarked ``zoo fit`` that names its run folder ``name`` (``--trainer.logger.name``)."""
    for command in commands:
        argv = list(command.argv)
        if argv[:1] == ["fit"] and command.needs is None and "--trainer.logger.name" in argv \
                and argv[argv.index("--trainer.logger.name") + 1] == name:
            return argv
    return None


COMMANDS = all_commands()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A user's folder: configs/, cli.py, images of their own, and one tiny run of each model a command reads."""
    import os

    from zoo import registry

    root = tmp_path_factory.mktemp("workspace")
    shutil.copytree(REPO / "configs", root / "configs")
    shutil.copy(REPO / "cli.py", root / "cli.py")
    for index, folder in enumerate(USER_FOLDERS):
        write_images(root / folder, count=6, size=32, seed=index)
    write_unpaired(root / "horse2zebra", count_a=6, count_b=6, size=32)  # trainA/, trainB/, testA/, testB/
    previous = os.getcwd()
    os.chdir(root)
    environment = pytest.MonkeyPatch()  # the tiny fits run before conftest's per-test home: the same isolation
    for variable in ("TORCH_HOME", "WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR",
                     "MPLCONFIGDIR"):
        environment.setenv(variable, str(root / "home" / variable.lower()))
    environment.setenv("WANDB_MODE", "offline")
    try:
        for name in checkpoint_models(COMMANDS):
            named_fit = documented_fit_named(COMMANDS, name)
            if named_fit is not None:  # runs/NAME of a page's own `--trainer.logger.name NAME`: that fit, tiny
                _run_main([*named_fit, *FAST_TRAINER, "--trainer.limit_train_batches", "1",
                           "--trainer.limit_val_batches", "0"])
                continue
            data = CHECKPOINT_DATA.get(name, ["--data", registry.entries("model")[name].metadata["default_data"]])
            _run_main(["fit", "--model", name, *data, *FAST_TRAINER, "--trainer.limit_train_batches", "1",
                       "--trainer.limit_val_batches", "0", "--data.batch_size", "8"])
        yield root
    finally:
        environment.undo()
        os.chdir(previous)
        sys.path[:] = [path for path in sys.path if not path.startswith(str(root))]
        registry.entries.cache_clear()


def test_the_docs_hold_the_commands_a_newcomer_types():
    """The collector finds the commands (a collector that found none would pass every check)."""
    texts = {command.text.split("#")[0].strip() for command in COMMANDS}
    assert "zoo list" in texts and "zoo info vae" in texts
    assert "zoo fit --config configs/pix2pix_facades.yaml" in texts
    assert {command.page for command in COMMANDS} >= {"README.md", "docs/guide.md", "docs/models/pix2pix.md"}
    assert len(COMMANDS) > 40


@pytest.mark.parametrize("command", COMMANDS, ids=[command.id for command in COMMANDS])
def test_documented_command_runs(command, workspace, monkeypatch):
    monkeypatch.chdir(workspace)
    check(command, workspace)


def test_a_broken_command_fails_the_check(workspace, monkeypatch):
    """What the generated pix2pix page once said: the paired data's required root was missing."""
    monkeypatch.chdir(workspace)
    page = "```bash\nzoo fit --model pix2pix --data paired --trainer.max_epochs 10\n```\n"
    (broken,) = commands_of(Path("broken.md"), page)
    with pytest.raises(AssertionError, match="root"):
        check(broken, workspace)
    marked = "```bash\nzoo fit --config configs/pix2pix_facades.yaml   # needs: datasets/facades, download above\n```"
    check(commands_of(Path("marked.md"), marked)[0], workspace)  # built, data not read
    unmarked = "```bash\nzoo fit --config configs/pix2pix_facades.yaml\n```"
    with pytest.raises(Exception, match="facades"):
        check(commands_of(Path("unmarked.md"), unmarked)[0], workspace)
