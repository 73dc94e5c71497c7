"""The user's story at the command line: names resolve, errors are one line, runs land in runs/."""

from __future__ import annotations

import pytest
import torch
import yaml

from tests.conftest import FAST_TRAINER, REPO, SHARED_FITS, copy_run, run_zoo, zoo_in_process
from zoo.cli import COMMAND_SUMMARIES, COMMANDS, TRAINER_SUBCOMMANDS, main


@pytest.mark.parametrize("model", ["autoencoder", "denoising_autoencoder", "vae"])
def test_zoo_fit_trains_each_reconstruction_family_on_digits(model, tmp_path, trained_runs):
    if model in SHARED_FITS:  # the same `zoo fit` the command tests use, trained once for both
        root = trained_runs(model)
    else:
        root = tmp_path
        run_zoo(["fit", "--model", model, "--data", "digits", *FAST_TRAINER], cwd=root)
    run_dir = root / "runs" / model / "version_0"
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    assert tuple(checkpoint["hyper_parameters"]["image_shape"]) == (1, 28, 28)  # linked from the data
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    # The checkpoint names its class, so sample/encode/score can load it without being told.
    assert checkpoint["hyper_parameters"]["_class_path"] == config["model"]["class_path"]
    metrics = (run_dir / "metrics.csv").read_text()
    assert "val/loss" in metrics and "val/psnr" in metrics


def test_second_run_gets_its_own_folder_instead_of_refusing(tmp_path, trained_runs):
    copy_run(trained_runs("vae"), tmp_path)  # the first run: `zoo fit --model vae --data digits`
    run_zoo(["fit", "--model", "VAE", "--data", "zoo.data.digits.DigitsDataModule", *FAST_TRAINER,
             "--trainer.limit_train_batches", "1"], cwd=tmp_path, in_process=True)
    assert (tmp_path / "runs/vae/version_0/config.yaml").exists()
    assert (tmp_path / "runs/vae/version_1/config.yaml").exists()
    assert (tmp_path / "runs/vae/version_1/checkpoints/last.ckpt").exists()


def test_a_finished_run_trains_on_from_its_last_checkpoint_for_more_epochs(tmp_path, trained_runs):
    copy_run(trained_runs("autoencoder"), tmp_path)  # `zoo fit --model autoencoder --data digits`, 4 steps
    last = tmp_path / "runs/autoencoder/version_0/checkpoints/last.ckpt"
    resumed = [*FAST_TRAINER]
    resumed[resumed.index("--trainer.max_epochs") + 1] = "2"
    run_zoo(["fit", "--model", "autoencoder", "--data", "digits", *resumed, "--ckpt_path", str(last)],
            cwd=tmp_path, in_process=True)
    checkpoint = torch.load(tmp_path / "runs/autoencoder/version_1/checkpoints/last.ckpt", weights_only=False)
    assert checkpoint["epoch"] == 1 and checkpoint["global_step"] == 8


def test_testing_a_finished_run_reports_its_metrics_without_checkpoint_warnings(tmp_path, trained_runs, capsys):
    """`zoo test --ckpt_path` evaluates another run's weights; it writes no checkpoints, so nothing about them."""
    import warnings

    copy_run(trained_runs("autoencoder"), tmp_path)
    last = tmp_path / "runs/autoencoder/version_0/checkpoints/last.ckpt"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = zoo_in_process(["test", "--model", "autoencoder", "--data", "digits", *FAST_TRAINER,
                                 "--trainer.limit_test_batches", "2", "--ckpt_path", str(last)], tmp_path, capsys)
    assert result.returncode == 0, result.stderr
    assert "test/loss" in result.stdout  # Lightning's table of the test metrics
    assert not [str(warning.message) for warning in caught if "dirpath has changed" in str(warning.message)]


ADD_ON_BASE = "cyclegan_horse2zebra.yaml"


@pytest.mark.parametrize("config", sorted((REPO / "configs").glob("*.yaml")), ids=lambda path: path.stem)
def test_every_config_parses(config, capsys):
    # In-process: the same main() as the console script, without paying the imports once per config.
    # An add-on config (a strategy, no model) is used after a model's config, as its header says.
    base = [] if "model" in yaml.safe_load(config.read_text()) else ["--config", str(REPO / "configs" / ADD_ON_BASE)]
    with pytest.raises(SystemExit) as exit_status:
        main(["fit", *base, "--config", str(config), "--print_config"])
    assert exit_status.value.code in (0, None)
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["model"]["class_path"].startswith(("zoo.models.", "zoo_"))
    assert printed["data"]["class_path"].startswith("zoo.data.")


def test_unknown_model_fails_in_one_line_with_close_matches(tmp_path):
    # A real subprocess of `python -m zoo.cli`: the error lines' exit status as a shell sees it (the others run
    # main() in-process).
    result = run_zoo(["fit", "--model", "vea", "--data", "digits"], cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("zoo: error: unknown model 'vea'; did you mean vae")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args, expected",
    [
        (["fit", "--model", "vae", "--data", "digitz"], "zoo: error: unknown datamodule 'digitz'; did you mean digits"),
        (["info", "autoencodr"], "zoo: error: unknown model 'autoencodr'; did you mean autoencoder"),
        (["fit", "--model", "cyclegan", "--data", "digits"],
         "zoo: error: cyclegan needs unpaired data; digits gives images; try --data unpaired"),
    ],
)
def test_bad_names_and_mismatched_data_fail_in_one_line(args, expected, capsys):
    with pytest.raises(SystemExit) as exit_status:
        main(args)
    assert exit_status.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(expected)


def test_empty_image_folder_fails_in_one_line_naming_it(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = zoo_in_process(["fit", "--model", "autoencoder", "--data", "folder", "--data.root", str(empty),
                             *FAST_TRAINER], cwd=tmp_path, capsys=capsys)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"zoo: error: image folder {empty} holds no images" in result.stderr


def test_python_cli_py_is_the_same_cli(tmp_path):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, str(REPO / "cli.py"), "list"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0 and "denoising_autoencoder" in result.stdout


def test_quiet_mode_prints_nothing_but_problems(tmp_path):
    result = run_zoo(["--quiet", "fit", "--model", "autoencoder", "--data", "digits", "--trainer.max_epochs", "1",
                      "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1"], cwd=tmp_path)
    assert result.stdout.strip() == "" and result.stderr.strip() == "", result.stdout + result.stderr
    assert (tmp_path / "runs/autoencoder/version_0/checkpoints/last.ckpt").exists()


def test_help_lists_every_command_and_no_arguments_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_status:
        main(["--help"])
    assert exit_status.value.code == 0
    listed = {line.split()[0] for line in capsys.readouterr().out.splitlines() if line.startswith("  ") and line.split()}
    assert set(COMMANDS) | set(TRAINER_SUBCOMMANDS) <= listed
    assert set(COMMAND_SUMMARIES) == set(COMMANDS) | set(TRAINER_SUBCOMMANDS)  # nothing listed that does not run
    with pytest.raises(SystemExit) as exit_status:
        main([])
    assert exit_status.value.code == 2 and "usage: zoo COMMAND" in capsys.readouterr().err


def test_a_bad_value_caught_in_a_datamodule_constructor_is_one_line(tmp_path, capsys):
    # jsonargparse wraps what a class raises while it builds it; the user still gets the zoo's one line.
    result = zoo_in_process(["fit", "--model", "vae", "--data", "digits", "--data.image_size", "4"], cwd=tmp_path,
                            capsys=capsys)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == "zoo: error: digits image_size must be at least 8, got 4"


def test_predict_writes_the_latent_codes_of_the_test_split_in_order(tmp_path, trained_runs, capsys, caplog):
    """`zoo predict --ckpt_path last` after a fit: the codes are kept in the run's folder, not only printed away."""
    from zoo.checkpoints import load_model
    from zoo.data.digits import DigitsDataModule

    copy_run(trained_runs("vae"), tmp_path)
    result = zoo_in_process(["predict", "--model", "vae", "--data", "digits", "--ckpt_path", "last",
                             "--trainer.enable_progress_bar", "false"], tmp_path, capsys)
    assert result.returncode == 0, result.stderr
    written = tmp_path / "runs/vae/version_1/predictions.pt"
    assert f"zoo: wrote (500, 16) predictions to {written.relative_to(tmp_path)}" in caplog.text  # Lightning's info
    codes = torch.load(written)
    data = DigitsDataModule()
    data.setup("test")
    first_images = torch.stack([data.test_set[index][0] for index in range(3)])
    model = load_model(tmp_path / "runs/vae/version_0/checkpoints/last.ckpt").eval()
    with torch.no_grad():
        torch.testing.assert_close(codes[:3], model.encode(first_images))


def test_the_model_summary_shows_each_networks_sizes_and_flops(tmp_path):
    """Lightning's summary runs the model's example input: sizes and FLOPs, not a column of zeros."""
    import re

    result = run_zoo(["fit", "--model", "dcgan", "--data", "digits", "--model.conditional", "true",
                      "--trainer.max_steps", "1", "--trainer.limit_val_batches", "1", "--fid.every_n_epochs", "0",
                      "--trainer.enable_progress_bar", "false"], cwd=tmp_path, in_process=True)
    generator_row = next(line for line in result.stdout.splitlines() if "ConditionalDCGANGenerator" in line)
    assert "[[2, 100], [2]]" in generator_row and "[2, 1, 28, 28]" in generator_row  # latents and labels in
    flops = re.search(r"Total FLOPs: ([\d.]+) ([KMG]?)", result.stdout)
    assert flops is not None and float(flops.group(1)) > 0 and flops.group(2) == "M", result.stdout


@pytest.mark.parametrize("model", ["vae", "gan"])
def test_fast_dev_run_trains_a_batch_and_writes_nothing(tmp_path, model, caplog):
    """Lightning's smoke test: one batch of each loop, "logging and checkpointing suppressed", so no files at all."""
    run_zoo(["fit", "--model", model, "--data", "digits", "--trainer.fast_dev_run", "true",
             "--trainer.enable_progress_bar", "false"], cwd=tmp_path, in_process=True)
    assert not list(tmp_path.rglob("*")), sorted(map(str, tmp_path.rglob("*")))
    assert "no budget given" not in caplog.text  # fast_dev_run is its budget, not the family's default epochs


@pytest.mark.parametrize("model, precision", [("vae", "64-true"), ("vae", "16-true"), ("wgan_gp", "16-true"),
                                              ("vae", "bf16-true")])
def test_true_precisions_train_or_stop_in_one_line(tmp_path, capsys, model, precision):
    """Lightning's "true" precisions cast the whole model; the zoo's own float32 steps must follow, not crash.

    Pure fp16 on a CPU may blow up within two steps: then the NaN guard's one line. (A crash, a dtype mismatch
    inside torch, would propagate out of zoo_in_process and fail the test.)"""
    result = zoo_in_process(["fit", "--model", model, "--data", "digits", *FAST_TRAINER, "--trainer.limit_train_batches",
                             "2", "--trainer.precision", precision, "--fid.every_n_epochs", "0"], tmp_path, capsys)
    if precision != "16-true":
        assert result.returncode == 0, result.stderr
    elif result.returncode:
        assert result.returncode == 2 and "non-finite" in result.stderr.strip().splitlines()[-1]
