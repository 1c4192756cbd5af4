"""DDPM training of the UNet (lowdim.images.train): the loss falls, a resumed run is bit-identical, weights load
only with their recorded sha256."""

import json
from dataclasses import asdict

import pytest
import torch

import lowdim.images.train as lowdim_train
from lowdim.images.train import TrainConfig, ema_decay_at, export, main, train
from lowdim.images.unet import load_weights, sample_ddim, timestep_for_sigma
from lowdim.schedules import ddpm_sigmas

TINY = dict(dataset="digits", channels=(8, 16, 16), batch_size=32, lr=2e-3, warmup_steps=5)


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_tiny_run_lowers_the_loss(tmp_path):
    state = train(tmp_path / "run", TrainConfig(**TINY), steps=80, log_every=10, progress=False)
    first, last = state.losses[0][1], state.losses[-1][1]
    assert last < 0.6 * first, state.losses


def test_resume_is_bit_identical(tmp_path):
    cfg = TrainConfig(**TINY)
    straight = train(tmp_path / "a", cfg, steps=12, progress=False)
    train(tmp_path / "b", cfg, steps=5, progress=False)  # "interrupted" after 5 steps, resume file written
    resumed = train(tmp_path / "b", cfg, steps=12, progress=False)
    assert resumed.step == 12 and _same(straight.model, resumed.model) and _same(straight.ema, resumed.ema)
    assert torch.equal(straight.gen.get_state(), resumed.gen.get_state())


def test_resume_refuses_a_different_config(tmp_path):
    train(tmp_path / "a", TrainConfig(**TINY), steps=2, progress=False)
    with pytest.raises(ValueError, match="new --run folder"):
        train(tmp_path / "a", TrainConfig(**{**TINY, "lr": 1e-3}), steps=3, progress=False)


def test_bad_parameters_are_named(tmp_path):
    with pytest.raises(ValueError, match="ema_decay"):
        train(tmp_path, TrainConfig(**{**TINY, "ema_decay": 1.0}), steps=2, progress=False)
    with pytest.raises(ValueError, match="steps"):
        train(tmp_path, TrainConfig(**TINY), steps=0, progress=False)
    with pytest.raises(ValueError, match="num_train"):
        train(tmp_path, TrainConfig(**{**TINY, "num_train": 10**6}), steps=2, progress=False)


def test_ema_warmup_forgets_the_initialisation():
    assert ema_decay_at(0.999, 0) == pytest.approx(0.1) and ema_decay_at(0.999, 10**6) == 0.999


def test_export_writes_checked_weights_and_provenance(tmp_path):
    main(["train", "--run", str(tmp_path / "run"), "--steps", "3", "--dataset", "digits", "--channels", "8", "16", "16",
          "--batch-size", "8", "--threads", "1"])
    out = tmp_path / "ckpt" / "tiny.safetensors"
    meta = export(tmp_path / "run", out)
    assert meta["steps"] == 3 and meta["images_seen"] == 24 and len(meta["sha256"]) == 64
    shipped_resume = out.with_suffix(".resume.pt")  # a later session continues training from this copy
    assert shipped_resume.read_bytes() == (tmp_path / "run" / "resume.pt").read_bytes()
    model, loaded = load_weights(out)
    assert loaded == json.loads(out.with_suffix(".json").read_text())
    blob = torch.load(tmp_path / "run" / "resume.pt", weights_only=True)
    assert all(torch.equal(v, blob["ema"][k]) for k, v in model.state_dict().items())
    raw = bytearray(out.read_bytes())
    raw[-1] ^= 1
    out.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="corrupted"):
        load_weights(out)


def test_timestep_for_sigma_inverts_the_ddpm_grid():
    sig = ddpm_sigmas(1000)
    for t in (0, 1, 37, 500, 999):
        assert timestep_for_sigma(float(sig[t])) == pytest.approx(t, abs=1e-6)
    with pytest.raises(ValueError, match="sigma must lie in"):
        timestep_for_sigma(0.002)


def test_ddim_sampling_shapes_and_determinism(tmp_path):
    state = train(tmp_path / "run", TrainConfig(**TINY), steps=2, progress=False)
    a = sample_ddim(state.ema, num_images=3, num_steps=4, seed=1)
    b = sample_ddim(state.ema, num_images=3, num_steps=4, seed=1)
    assert a.shape == (3, 1, 8, 8) and torch.equal(a, b)


COND = dict(TINY, num_classes=10, label_dropout=0.2)


def test_conditional_run_lowers_the_loss_and_resumes_bit_identically(tmp_path):
    cfg = TrainConfig(**COND)
    straight = train(tmp_path / "a", cfg, steps=12, progress=False)
    train(tmp_path / "b", cfg, steps=5, progress=False)
    resumed = train(tmp_path / "b", cfg, steps=12, progress=False)
    assert resumed.step == 12 and _same(straight.model, resumed.model) and _same(straight.ema, resumed.ema)
    assert torch.equal(straight.gen.get_state(), resumed.gen.get_state())
    assert straight.model.config.num_class_embeds == 11  # K classes + the null id K
    longer = train(tmp_path / "c", cfg, steps=80, log_every=10, progress=False)
    assert longer.losses[-1][1] < 0.6 * longer.losses[0][1], longer.losses


def test_the_label_changes_the_conditional_prediction(tmp_path):
    state = train(tmp_path / "a", TrainConfig(**COND), steps=30, progress=False)
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([500, 500])
    with torch.no_grad():
        a = state.ema(x, t, class_labels=torch.tensor([3, 3])).sample
        b = state.ema(x, t, class_labels=torch.tensor([10, 10])).sample
    assert not torch.allclose(a, b)


def test_label_dropout_replaces_about_the_requested_fraction():
    from lowdim.images.train import drop_labels

    gen = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 10, (20000,), generator=gen)
    out = drop_labels(labels, 10, 0.15, gen)
    dropped = (out == 10).double().mean().item()
    assert abs(dropped - 0.15) < 4 * (0.15 * 0.85 / 20000) ** 0.5  # 4 binomial standard errors
    assert torch.equal(out[out != 10], labels[out != 10])


def test_unconditional_config_and_old_resume_files_still_load(tmp_path):
    state = train(tmp_path / "a", TrainConfig(**TINY), steps=2, progress=False)
    assert state.model.config.num_class_embeds is None
    blob = torch.load(tmp_path / "a" / "resume.pt", weights_only=True)  # a resume file written before the fields
    for key in ("num_classes", "label_dropout"):
        del blob["config"][key]
    torch.save(blob, tmp_path / "a" / "resume.pt")
    assert train(tmp_path / "a", TrainConfig(**TINY), steps=3, progress=False).step == 3


def test_bad_conditional_parameters_are_named(tmp_path):
    with pytest.raises(ValueError, match="label_dropout"):
        train(tmp_path, TrainConfig(**{**COND, "label_dropout": 1.0}), steps=2, progress=False)
    with pytest.raises(ValueError, match="label_dropout"):
        train(tmp_path, TrainConfig(**{**TINY, "label_dropout": 0.1}), steps=2, progress=False)
    with pytest.raises(ValueError, match="num_classes"):
        train(tmp_path, TrainConfig(**{**COND, "num_classes": -1}), steps=2, progress=False)
    with pytest.raises(ValueError, match="num_classes must be >= 10"):
        train(tmp_path, TrainConfig(**{**COND, "num_classes": 5}), steps=2, progress=False)


def test_conditional_export_loads_and_samples_with_guidance(tmp_path):
    from lowdim.images.guidance import sample_cfg

    main(["train", "--run", str(tmp_path / "run"), "--steps", "3", "--dataset", "digits", "--channels", "8", "16", "16",
          "--batch-size", "8", "--threads", "1", "--num-classes", "10", "--label-dropout", "0.15"])
    meta = export(tmp_path / "run", tmp_path / "cond.safetensors")
    assert meta["train_config"]["num_classes"] == 10 and meta["train_config"]["label_dropout"] == 0.15
    model, _ = load_weights(tmp_path / "cond.safetensors")
    assert model.config.num_class_embeds == 11
    assert sample_cfg(model, torch.arange(4), 2.0, "ddim", 3, seed=0).shape == (4, 1, 8, 8)
def test_downsample_is_exact_area_averaging():
    x = torch.arange(2 * 28 * 28, dtype=torch.float32).reshape(2, 1, 28, 28)
    y = lowdim_train.downsample(x, 16)
    # brute force: output pixel (i, j) = integral of the piecewise-constant image over its cell / cell area
    edges = torch.linspace(0, 28, 17, dtype=torch.float64)
    def weights(i):  # (28,) covered length of each input pixel inside cell i
        lo, hi = edges[i], edges[i + 1]
        k = torch.arange(28, dtype=torch.float64)
        return (torch.minimum(k + 1, hi) - torch.maximum(k, lo)).clamp(min=0)
    W = torch.stack([weights(i) for i in range(16)]) / (28 / 16)  # (16, 28), rows sum to 1
    want = torch.einsum("ik,nckl,jl->ncij", W, x.double(), W)
    assert torch.allclose(y.double(), want, atol=1e-3)  # float32 sums of values up to 1567: ~1e-4 rounding
    assert lowdim_train.downsample(x, 28) is x and lowdim_train.downsample(x, 14).shape == (2, 1, 14, 14)


def test_image_size_and_timesteps_are_trained_and_resumed_bit_identically(tmp_path):
    cfg = TrainConfig(**{**TINY, "image_size": 4, "timesteps": (0, 500)})
    straight = train(tmp_path / "a", cfg, steps=8, progress=False)
    assert straight.model.config.sample_size == 4
    train(tmp_path / "b", cfg, steps=3, progress=False)
    resumed = train(tmp_path / "b", cfg, steps=8, progress=False)
    assert _same(straight.model, resumed.model) and _same(straight.ema, resumed.ema)
    with pytest.raises(ValueError, match="new --run folder"):  # a stored single level is part of the config
        train(tmp_path / "b", TrainConfig(**{**TINY, "image_size": 4, "timesteps": (0,)}), steps=9, progress=False)


def test_single_level_loss_draws_only_that_timestep():
    seen = []

    class Spy(torch.nn.Module):
        def forward(self, x, t, class_labels=None):
            seen.append(t.clone())
            return type("Out", (), {"sample": torch.zeros_like(x)})()

    gen = torch.Generator().manual_seed(0)
    ab = torch.linspace(0.99, 0.01, 1000, dtype=torch.float64)
    lowdim_train.ddpm_loss(Spy(), torch.zeros(64, 1, 4, 4), ab, gen, timesteps=torch.tensor([7, 300]))
    assert set(seen[0].tolist()) == {7, 300}
    lowdim_train.ddpm_loss(Spy(), torch.zeros(64, 1, 4, 4), ab, gen)
    assert len(set(seen[1].tolist())) > 10


def test_new_options_are_validated_by_name(tmp_path):
    with pytest.raises(ValueError, match="image_size"):
        train(tmp_path, TrainConfig(**{**TINY, "image_size": 9}), steps=2, progress=False)  # digits are 8x8
    with pytest.raises(ValueError, match="timesteps"):
        train(tmp_path, TrainConfig(**{**TINY, "timesteps": (1000,)}), steps=2, progress=False)
    with pytest.raises(ValueError, match="timesteps"):
        train(tmp_path, TrainConfig(**{**TINY, "timesteps": (3, 3)}), steps=2, progress=False)
    with pytest.raises(ValueError, match="snapshot_at"):
        train(tmp_path, TrainConfig(**TINY), steps=2, snapshot_at=(3,), progress=False)


def test_old_resume_files_load_with_the_new_defaults():
    stored = {k: v for k, v in asdict(TrainConfig(**TINY)).items() if k not in ("image_size", "timesteps")}
    stored["channels"] = list(stored["channels"])
    assert lowdim_train.config_from_dict(stored) == TrainConfig(**TINY)


def test_snapshots_along_training_export_the_weights_of_their_step(tmp_path):
    main(["train", "--run", str(tmp_path / "run"), "--steps", "6", "--dataset", "digits", "--channels", "8", "16",
          "16", "--batch-size", "8", "--threads", "1", "--image-size", "4", "--timesteps", "5",
          "--snapshot-at", "2", "4"])
    short = train(tmp_path / "short", TrainConfig(dataset="digits", channels=(8, 16, 16), batch_size=8, image_size=4,
                                                   timesteps=(5,)), steps=4, progress=False)
    out = tmp_path / "ckpt" / "step4.safetensors"
    main(["export", "--run", str(tmp_path / "run"), "--out", str(out), "--resume-name",
          lowdim_train.snapshot_name(4), "--no-resume-copy"])
    model, meta = load_weights(out)
    assert meta["steps"] == 4 and "resume_file" not in meta and not out.with_suffix(".resume.pt").exists()
    assert meta["train_config"]["timesteps"] == [5] and meta["train_config"]["image_size"] == 4
    assert _same(model, short.ema)
    with pytest.raises(FileNotFoundError, match="resume_name"):
        export(tmp_path / "run", out, resume_name="nope.pt")
