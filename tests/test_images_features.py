"""Features across noise levels (lowdim.images.features) and the paper-1 analysis on them (lowdim.images.probing)."""

import pytest
import torch

from lowdim.images.features import block_modules, condition_timestep, extract_features, noisy_input
from lowdim.images.probing import (feature_snr, label_noise_run, level_summary,
                                   projection_accuracy, split_train_val)
from lowdim.images.unet import build_unet, load_pretrained_folder, unet_config
from lowdim.schedules import ddpm_sigmas


@pytest.fixture(scope="module")
def tiny():
    return build_unet(unet_config(sample_size=8, channels=(8, 16, 16)), seed=0)


def test_feature_shapes_cover_every_block(tiny):
    x = torch.rand(10, 1, 8, 8) * 2 - 1
    feats = extract_features(tiny, x, [0.002, 0.5, 3.0], seed=0, progress=False)
    assert list(feats) == list(block_modules(tiny)) == ["down_0", "down_1", "down_2", "mid", "up_0", "up_1", "up_2"]
    widths = {"down_0": 8, "down_1": 16, "down_2": 16, "mid": 16, "up_0": 16, "up_1": 16, "up_2": 8}
    assert all(f.shape == (3, 10, widths[k]) and f.dtype == torch.float32 for k, f in feats.items())


def test_features_do_not_depend_on_the_batch(tiny):
    x = torch.rand(21, 1, 8, 8) * 2 - 1
    a = extract_features(tiny, x, [0.06, 1.0], seed=4, batch_size=21, progress=False)
    b = extract_features(tiny, x, [0.06, 1.0], seed=4, batch_size=4, progress=False)
    assert all(torch.allclose(a[k], b[k], atol=1e-5, rtol=0) for k in a)


def test_noisy_input_is_the_vp_scaling():
    x0, n = torch.ones(1, 1, 2, 2), torch.full((1, 1, 2, 2), 2.0)
    assert torch.allclose(noisy_input(x0, n, 0.5), torch.full((1, 1, 2, 2), 2.0 / 1.25**0.5))


def test_condition_timestep_below_and_on_the_ddpm_grid():
    sig = ddpm_sigmas(1000)
    assert condition_timestep(0.002) == 0.0 and condition_timestep(float(sig[0]) * 0.999) == 0.0
    assert condition_timestep(float(sig[250])) == pytest.approx(250, abs=1e-6)
    with pytest.raises(ValueError, match="sigma"):
        condition_timestep(0.0)


def test_public_checkpoint_folder_gives_the_same_features(tiny, tmp_path):
    tiny.save_pretrained(tmp_path / "tiny-unet")  # what a reader's downloaded hub checkpoint looks like
    loaded = load_pretrained_folder(tmp_path / "tiny-unet")
    x = torch.rand(5, 1, 8, 8) * 2 - 1
    a = extract_features(tiny, x, [0.1], seed=0, progress=False)
    b = extract_features(loaded, x, [0.1], seed=0, progress=False)
    assert all(torch.equal(a[k], b[k]) for k in a)
    tiny.save_pretrained(tmp_path / "pipeline" / "unet")  # a pipeline snapshot keeps its UNet in unet/
    c = extract_features(load_pretrained_folder(tmp_path / "pipeline"), x, [0.1], seed=0, progress=False)
    assert all(torch.equal(a[k], c[k]) for k in a)
    with pytest.raises(FileNotFoundError, match="save_pretrained"):
        load_pretrained_folder(tmp_path)


def _clusters(n_per, p, spread, seed):
    """Three classes, each on its own coordinate block plus isotropic noise `spread`."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(3).repeat_interleave(n_per)
    h = spread * torch.randn(len(y), p, generator=g)
    for k in range(3):
        h[y == k, 4 * k:4 * k + 4] += torch.randn(int((y == k).sum()), 4, generator=g) + 3.0
    return h, y


def test_snr_and_projection_classifier_on_clustered_features():
    h, y = _clusters(200, 16, 0.05, 0)
    h2, y2 = _clusters(200, 16, 0.05, 1)
    noisy, _ = _clusters(200, 16, 1.0, 0)
    assert feature_snr(h, y) > 10 * feature_snr(noisy, y)
    assert projection_accuracy(h, y, h2, y2, num_classes=3) == 1.0


def test_level_summary_picks_the_best_block_per_level():
    good, y = _clusters(100, 16, 0.1, 0)
    bad, _ = _clusters(100, 16, 30.0, 0)
    good_t, yt = _clusters(100, 16, 0.1, 1)
    bad_t, _ = _clusters(100, 16, 30.0, 1)
    train = {"a": torch.stack([good, bad]), "b": torch.stack([bad, good])}
    test = {"a": torch.stack([good_t, bad_t]), "b": torch.stack([bad_t, good_t])}
    out = level_summary(train, y, test, yt, num_classes=3)
    assert out["best_block"] == ["a", "b"] and bool((out["probe"] > 0.95).all())


def test_label_noise_run_returns_accuracies():
    h, y = _clusters(100, 16, 0.5, 0)
    ht, yt = _clusters(100, 16, 0.5, 1)
    F, Ft = torch.stack([h, h * 0.5, h + 1]), torch.stack([ht, ht * 0.5, ht + 1])
    out = label_noise_run(F, h, y, Ft, ht, yt, num_classes=3, fraction=0.2, noise_seed=0, split_seed=1, num_val=60,
                          half_width=1)
    assert 0.9 < out["single"] <= 1.0 and 0.9 < out["ensemble"] <= 1.0 and 0.9 < out["pixels"] <= 1.0
    assert out["window"] == [0, 1, 2]
    fit, val = split_train_val(10, 3, seed=0)
    assert sorted(torch.cat([fit, val]).tolist()) == list(range(10))


def test_label_noise_run_refuses_a_split_that_would_be_the_corrupted_labels():
    """With one seed, corrupt_labels and the split draw the same permutation: at fraction = num_val / N the
    validation points would be exactly the corrupted ones (the level chosen would be the worst)."""
    from lowdim.representation.ensemble import corrupt_labels
    y = torch.arange(300) % 3
    noisy = corrupt_labels(y, 0.2, 3, seed=5)
    _, val_same = split_train_val(300, 60, seed=5)
    assert bool((noisy[val_same] != y[val_same]).all())  # the trap
    _, val = split_train_val(300, 60, seed=6)
    assert 0.05 < float((noisy[val] != y[val]).double().mean()) < 0.4
    h, _ = _clusters(100, 16, 0.5, 0)
    F = torch.stack([h, h])
    with pytest.raises(ValueError, match="split_seed must differ"):
        label_noise_run(F, h, y, F, h, y, num_classes=3, fraction=0.2, noise_seed=5, split_seed=5, num_val=60)
