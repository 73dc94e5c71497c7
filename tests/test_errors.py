"""The bad-input catalogue (docs/troubleshooting.md): each mistake is one line, exit status 2, no traceback.

Every case goes through ``zoo.cli.main`` as a user's command line would, and checks the three
promises: the exit status, a single ``zoo: error:`` line that names the bad value and what
was expected, and no traceback unless ``--debug`` asks for one.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import lightning
import pytest
import torch

from tests.conftest import FAST_TRAINER, REPO
from tests.data.image_folders import write_folder_pairs, write_images
from zoo import registry
from zoo.cli import main
from zoo.models.autoencoder import Autoencoder
from zoo.models.gan import GAN


def zoo_error(argv: list[str], capsys) -> str:
    """The message of the one ``zoo: error:`` line ``zoo ARGV`` prints, after checking the exit and the traceback."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("zoo: error: ")]
    assert len(lines) == 1, err
    return lines[0].removeprefix("zoo: error: ")


def write_checkpoint(model: lightning.LightningModule, path: Path, **extra_hyperparameters) -> Path:
    """A checkpoint as `zoo fit` writes one (the class path among the hyper-parameters), without training."""
    hyperparameters = {"_class_path": registry.class_path_of(type(model)), **model.hparams, **extra_hyperparameters}
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": hyperparameters,
                "pytorch-lightning_version": lightning.__version__, "global_step": 0}, path)
    return path


def build_world(root: Path) -> Path:
    """Files the cases point at: broken and empty folders, mismatched pairs, checkpoints, config files."""
    (root / "empty").mkdir()
    write_images(root / "broken", 4, 16)
    (root / "broken" / "9999.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    write_images(root / "truncated", 4, 16)
    whole = (root / "truncated" / "0000.png").read_bytes()
    (root / "truncated" / "0001.png").write_bytes(whole[: len(whole) // 2])
    write_folder_pairs(root / "pairs_count" / "train", 3, 16)
    (root / "pairs_count" / "train" / "B" / "0002.jpg").unlink()
    write_folder_pairs(root / "pairs_names" / "train", 2, 16)
    (root / "pairs_names" / "train" / "B" / "0001.jpg").rename(root / "pairs_names" / "train" / "B" / "other.jpg")
    (root / "stream").mkdir()
    (root / "stream" / "zoo.json").write_text(json.dumps({"format": "zoo-streaming", "version": 99}))
    write_checkpoint(GAN(), root / "gan.ckpt")
    write_checkpoint(Autoencoder(), root / "autoencoder.ckpt")
    write_checkpoint(GAN(), root / "future_gan.ckpt", truncation_psi=0.7)
    (root / "notes.ckpt").write_text("not a checkpoint\n")
    (root / "a_file").write_text("")
    (root / "unknown_key.yaml").write_text("model:\n  class_path: zoo.models.vae.VAE\n  init_args:\n    latnt_dim: 3\n")
    (root / "wrong_type.yaml").write_text("trainer:\n  max_epochs: many\n")
    (root / "syntax.yaml").write_text("trainer:\n  max_epochs: 1\nmodel: [vae\n")
    return root


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    return build_world(tmp_path_factory.mktemp("world"))


# (id, command line with {w} for the world folder, what the message must contain: the bad value and the expectation)
CATALOGUE = [
    # names
    ("unknown model", "fit --model autoencod --data digits",
     "unknown model 'autoencod'; did you mean autoencoder"),
    ("unknown datamodule", "fit --model vae --data digitz", "unknown datamodule 'digitz'; did you mean digits?"),
    ("unknown command", "fitt --model vae", "unknown command 'fitt'; did you mean fit?"),
    ("unknown model option", "fit --model vae --data digits --model.latnt_dim 3",
     "--model.latnt_dim is not an option; did you mean --model.latent_dim"),
    ("unknown trainer flag", "fit --model vae --data digits --trainer.max_epocs 1",
     "unrecognized argument --trainer.max_epocs; did you mean --trainer.max_epochs"),
    ("missing required option", "fit --model vae --data folder", "missing --data.root (see `zoo fit --help`)"),
    # hyper-parameters: a wrong type
    ("wrong type", "fit --model vae --data digits --model.latent_dim abc",
     "--model.latent_dim abc: expected int (see `zoo fit --help`)"),
    ("not a choice", "fit --model vae --data digits --model.architecture deep",
     "--model.architecture deep: expected one of 'dense', 'conv'"),
    # hyper-parameters: out of range, one per family and the checks each adds
    ("autoencoder latent 0", "fit --model autoencoder --data digits --model.latent_dim 0",
     "latent_dim must be > 0, got 0"),
    ("denoising noise < 0", "fit --model denoising_autoencoder --data digits --model.noise_std -0.1",
     "noise_std must be >= 0, got -0.1"),
    ("vae latent 0", "fit --model vae --data digits --model.latent_dim 0", "latent_dim must be > 0, got 0"),
    ("vae negative lr", "fit --model vae --data digits --model.lr -0.1", "lr must be > 0, got -0.1"),
    ("vae beta < 0", "fit --model vae --data digits --model.beta -1", "beta must be >= 0, got -1.0"),
    ("vae hidden 0", "fit --model vae --data digits --model.hidden_dims [64,0]",
     "hidden_dims must all be > 0, got [64, 0]"),
    ("gan latent 0", "fit --model gan --data digits --model.latent_dim 0", "latent_dim must be > 0, got 0"),
    ("gan optimizer lr < 0", "fit --model gan --data digits --model.optimizer_g torch.optim.Adam "
     "--model.optimizer_g.lr -1 --trainer.default_root_dir {w}/runs",
     "the optimizer refused its arguments: Invalid learning rate: -1.0"),
    ("dcgan features 0", "fit --model dcgan --data digits --model.generator_features 0",
     "generator_features must be > 0, got 0"),
    ("dcgan latent 0", "fit --model dcgan --data digits --model.latent_dim 0", "latent_dim must be > 0, got 0"),
    ("wgan n_critic 0", "fit --model wgan --data digits --model.n_critic 0", "n_critic must be > 0, got 0"),
    ("wgan clip 0", "fit --model wgan --data digits --model.clip_value 0", "clip_value must be > 0, got 0.0"),
    ("wgan_gp penalty < 0", "fit --model wgan_gp --data digits --model.penalty_weight -1",
     "penalty_weight must be >= 0, got -1.0"),
    ("pix2pix lambda_l1 < 0", "fit --model pix2pix --data paired --data.root {w}/pairs_count --model.lambda_l1 -1",
     "lambda_l1 must be >= 0, got -1.0"),
    ("cyclegan pool < 0", "fit --model cyclegan --data unpaired --data.root {w} --model.pool_size -1",
     "pool_size must be >= 0, got -1"),
    ("image too small for the model", "fit --model autoencoder --data digits --model.architecture conv "
     "--model.hidden_dims [8,8,8,8,8]", "sides must be at least 32 px, got 28x28"),
    ("image size DCGAN cannot build", "fit --model dcgan --data folder --data.root {w}/broken --data.image_size 7",
     "a DCGAN needs image sides that halve at least once"),
    # trainer arguments: Lightning's own checks, and the ones it leaves to a ZeroDivisionError
    ("trainer devices 0", "fit --model vae --data digits --trainer.devices 0",
     "the trainer refused its arguments: `Trainer(devices='0')` value is not a valid input using cpu accelerator."),
    ("trainer unknown strategy", "fit --model vae --data digits --trainer.strategy dpp",
     "the trainer refused its arguments: You selected an invalid strategy name: `strategy='dpp'`."),
    ("trainer num_nodes 0", "fit --model vae --data digits --trainer.num_nodes 0",
     "the trainer refused its arguments: `num_nodes` must be a positive integer, but got 0."),
    ("accumulate 0 batches", "fit --model vae --data digits --trainer.accumulate_grad_batches 0",
     "--trainer.accumulate_grad_batches must be at least 1, got 0"),
    ("validate every 0 epochs", "fit --model vae --data digits --trainer.check_val_every_n_epoch 0",
     "--trainer.check_val_every_n_epoch must be at least 1, got 0"),
    ("validation interval 0", "fit --model vae --data digits --trainer.val_check_interval 0",
     "--trainer.val_check_interval must be > 0 (a fraction of an epoch, or a number of batches), got 0"),
    # data
    ("missing root", "fit --model vae --data folder --data.root {w}/nowhere --trainer.default_root_dir {w}/runs",
     "image folder {w}/nowhere does not exist"),
    ("empty folder", "fit --model vae --data folder --data.root {w}/empty --trainer.default_root_dir {w}/runs",
     "image folder {w}/empty holds no images"),
    ("unreadable image", "fit --model vae --data folder --data.root {w}/broken --data.image_size 16 "
     "--trainer.default_root_dir {w}/runs",
     "{w}/broken/9999.png is not a readable image (OSError: Truncated File Read); --data.skip_broken true"),
    ("truncated image", "fit --model vae --data folder --data.root {w}/truncated --data.image_size 16 "
     "--data.val_fraction 0 --data.test_fraction 0 --data.batch_size 4 --data.num_workers 0 "
     "--trainer.max_steps 1 --fid.every_n_epochs 0 --trainer.default_root_dir {w}/runs",
     "{w}/truncated/0001.png is not a readable image (OSError: image file is truncated); --data.skip_broken true"),
    ("pairs differ in count", "fit --model pix2pix --data paired --data.root {w}/pairs_count --data.image_size 16 "
     "--trainer.default_root_dir {w}/runs",
     "{w}/pairs_count/train/A/0002.png has no file of the same name in {w}/pairs_count/train/B"),
    ("pairs differ in names", "fit --model pix2pix --data paired --data.root {w}/pairs_names --data.image_size 16 "
     "--trainer.default_root_dir {w}/runs",
     "{w}/pairs_names/train/A/0001.png has no file of the same name"),
    ("streaming from a newer zoo", "fit --model vae --data streaming --data.root {w}/stream "
     "--trainer.default_root_dir {w}/runs", "{w}/stream was written by a newer zoo (format version 99"),
    # checkpoints
    ("missing checkpoint", "fit --model gan --data digits --ckpt_path {w}/nowhere.ckpt",
     "checkpoint {w}/nowhere.ckpt does not exist"),
    ("not a checkpoint", "fit --model gan --data digits --ckpt_path {w}/notes.ckpt",
     "{w}/notes.ckpt is not a readable Lightning checkpoint"),
    ("test --ckpt_path last before any run", "test --model vae --data digits --ckpt_path last "
     "--trainer.default_root_dir {w}/runs", "--ckpt_path last: no last.ckpt of any vae run under {w}/runs/vae to test; "
     "train one first (zoo fit) or give a checkpoint file"),
    ("a GAN checkpoint into a VAE run", "fit --model vae --data digits --ckpt_path {w}/gan.ckpt",
     "--ckpt_path {w}/gan.ckpt holds a gan checkpoint, but --model is vae; give a vae checkpoint, or --model gan"),
    ("checkpoint from a newer zoo", "validate --model gan --data digits --ckpt_path {w}/future_gan.ckpt",
     "checkpoint {w}/future_gan.ckpt has hyper-parameter(s) truncation_psi that gan in this zoo does not know"),
    ("sample from a newer zoo", "sample --ckpt {w}/future_gan.ckpt --out {w}/grid.png",
     "has hyper-parameter(s) truncation_psi that gan in this zoo does not know"),
    # commands
    ("sample from a model that cannot", "sample --ckpt {w}/autoencoder.ckpt --out {w}/grid.png",
     "`zoo sample` needs a model with sample(); {w}/autoencoder.ckpt holds autoencoder"),
    ("sample -n 0", "sample --ckpt {w}/gan.ckpt -n 0 --out {w}/grid.png", "-n must be at least 1, got 0"),
    ("sample --out not writable", "sample --ckpt {w}/gan.ckpt --out {w}/a_file/grid.png",
     "--out {w}/a_file/grid.png: cannot write into {w}/a_file: {w}/a_file is a file, not a folder"),
    ("sample a grid too large to look at", "sample --ckpt {w}/gan.ckpt -n 1000000 --out {w}/grid.png",
     "-n 1000000: a grid of 1000000 images of 28x28 would have 900 million pixels (at most 100 million); "
     "write them to a folder instead (--out {w}/grid/)"),
    ("sample without --ckpt", "sample --out grid.png",
     "the following arguments are required: --ckpt (see `zoo sample --help`)"),
    # config files
    ("config: unknown key", "fit --data digits --config {w}/unknown_key.yaml",
     "--model.latnt_dim is not an option; did you mean --model.latent_dim"),
    ("config: wrong type", "fit --model vae --data digits --config {w}/wrong_type.yaml",
     "--trainer.max_epochs many: expected int or null"),
    ("config: YAML syntax", "fit --model vae --data digits --config {w}/syntax.yaml",
     "--config {w}/syntax.yaml: YAML syntax error at line 4, column 1"),
    ("config: missing file", "fit --model vae --data digits --config {w}/nowhere.yaml",
     "--config: File does not exist: '{w}/nowhere.yaml'"),
]


@pytest.mark.parametrize(("command", "expected"), [case[1:] for case in CATALOGUE], ids=[c[0] for c in CATALOGUE])
def test_each_mistake_is_one_line_naming_the_bad_value(command, expected, world, capsys):
    argv = [token.replace("{w}", str(world)) for token in shlex.split(command)]
    if argv[0] in ("fit", "validate"):
        argv += FAST_TRAINER
    assert expected.replace("{w}", str(world)) in zoo_error(argv, capsys)


def test_a_failed_start_leaves_no_run_folder_so_the_next_run_keeps_its_number(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    runs = tmp_path / "runs"
    zoo_error(["fit", "--model", "vae", "--data", "folder", "--data.root", str(tmp_path / "empty"),
               "--trainer.default_root_dir", str(runs), *FAST_TRAINER], capsys)
    assert not runs.exists()  # nor runs/ itself, which this run made


def test_skip_broken_leaves_broken_files_out_in_one_warning(world, tmp_path):
    from zoo.data.folder import ImageFolderDataModule

    datamodule = ImageFolderDataModule(str(world / "truncated"), image_size=16, skip_broken=True)
    with pytest.warns(UserWarning, match=r"skipped 1 broken image file\(s\) in .*truncated, e\.g\. .*0001\.png"):
        datamodule.setup("fit")
    assert len(datamodule.dataset) == 3


def test_grey_and_colour_images_in_one_folder_are_converted_to_the_channels_asked_for(tmp_path):
    from zoo.data.folder import ImageFolderDataModule

    write_images(tmp_path / "mixed", 3, 16, grey=True)
    write_images(tmp_path / "mixed" / "colour", 3, 16, seed=1)
    for channels in (1, 3):
        datamodule = ImageFolderDataModule(str(tmp_path / "mixed"), image_size=16, channels=channels)
        datamodule.setup("fit")
        shapes = {tuple(datamodule.dataset[index][0].shape) for index in range(len(datamodule.dataset))}
        assert shapes == {(channels, 16, 16)}


def test_debug_shows_the_traceback_behind_the_line(capsys, monkeypatch):
    with pytest.raises(SystemExit):
        main(["fit", "--model", "vae", "--data", "digits", "--model.latent_dim", "abc", "--debug"])
    err = capsys.readouterr().err
    assert "Traceback" in err and 'Parser key "latent_dim"' in err  # jsonargparse's whole report
    assert err.strip().splitlines()[-1] == "zoo: error: --model.latent_dim abc: expected int (see `zoo fit --help`)"
    monkeypatch.setenv("ZOO_DEBUG", "1")
    with pytest.raises(SystemExit):
        main(["fit", "--model", "vae", "--data", "digits", "--model.latent_dim", "0"])
    assert "Traceback" in capsys.readouterr().err


def test_the_troubleshooting_page_prints_what_the_zoo_prints(capsys, tmp_path, monkeypatch):
    """Every example on the page that needs no files of its own is run and must print the page's line exactly."""
    monkeypatch.chdir(tmp_path)  # a run that fails to start must not leave anything in the checkout either
    page = (REPO / "docs" / "troubleshooting.md").read_text()
    examples = re.findall(r"^\$ zoo (.+)\n(zoo: error: .+)$", page, flags=re.M)
    runnable = [(command, line) for command, line in examples if "/" not in command]
    assert len(runnable) >= 10, "the page lost its examples"
    for command, line in runnable:
        if "--trainer.accelerator gpu" in command and torch.cuda.is_available():
            continue  # the page's machine has no GPU; on one with a GPU this trains
        argv = shlex.split(command)
        assert f"zoo: error: {zoo_error(argv, capsys)}" == line, command
    assert not any(tmp_path.iterdir())
