"""The shipped Fashion-MNIST DDPM (data/checkpoints/): checksums, provenance, and features that beat raw pixels."""

import pytest
import torch

from lowdim.images.data import REPO_ROOT, load_dataset
from lowdim.images.features import extract_features
from lowdim.images.probing import block_probe_table, probe_accuracy
from lowdim.images.unet import load_weights, sha256_file

CHECKPOINT = REPO_ROOT / "data" / "checkpoints" / "fmnist_unet.safetensors"


@pytest.fixture(scope="module")
def shipped():
    return load_weights(CHECKPOINT)


def test_provenance_records_how_the_weights_were_made(shipped):
    model, meta = shipped
    for key in ("command", "commit", "hardware", "steps", "images_seen", "wall_time_s", "sha256", "train_config"):
        assert meta[key] not in (None, ""), key
    assert meta["images_seen"] == meta["steps"] * meta["train_config"]["batch_size"]
    assert meta["num_parameters"] == sum(p.numel() for p in model.parameters())
    resume = CHECKPOINT.parent / meta["resume_file"]
    assert sha256_file(resume) == meta["resume_sha256"]
    blob = torch.load(resume, map_location="cpu", weights_only=True)
    assert blob["step"] == meta["steps"]
    assert all(torch.equal(v, blob["ema"][k]) for k, v in model.state_dict().items())


def test_probe_at_the_best_noise_level_beats_raw_pixels(shipped):
    """Paper 1's premise on a small Fashion-MNIST subset: a linear probe on the pooled features of the best
    (block, sigma) beats a linear probe on the raw pixels (same probe, same images) by at least 1 point."""
    model, _ = shipped
    data = load_dataset("fashion-mnist")
    gen = torch.Generator().manual_seed(0)
    tr = torch.randperm(len(data.y_train), generator=gen)[:500]
    te = torch.randperm(len(data.y_test), generator=gen)[:500]
    sigmas = [0.06, 0.14, 0.296]
    f_tr = extract_features(model, data.x_train[tr], sigmas, seed=1, progress=False)
    f_te = extract_features(model, data.x_test[te], sigmas, seed=2, progress=False)
    _, acc = block_probe_table(f_tr, data.y_train[tr], f_te, data.y_test[te], 10)
    pixels = probe_accuracy(data.x_train[tr].flatten(1)[None], data.y_train[tr], data.x_test[te].flatten(1)[None],
                            data.y_test[te], 10)
    assert float(acc.max()) >= float(pixels[0]) + 0.01, (acc, pixels)
