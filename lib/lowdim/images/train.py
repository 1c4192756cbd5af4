"""DDPM training of the book's UNet (eps-prediction, linear beta, T = 1000), resumable bit for bit.

    python -m lowdim.images.train train --run runs/fmnist --dataset fashion-mnist --steps 20000 --seed 0
    python -m lowdim.images.train export --run runs/fmnist --out data/checkpoints/fmnist_unet.safetensors

Loss (Ho et al. 2020, L_simple): E_{x_0, t ~ U{0..T-1}, eps ~ N(0, I)} || eps - eps_theta(sqrt(ab_t) x_0 +
sqrt(1 - ab_t) eps, t) ||^2. Adam with linear warm-up of the learning rate, gradients clipped to norm 1 (as in
DDPM), EMA of the weights after every step, theta_ema <- d_s theta_ema + (1 - d_s) theta with the warm-up
d_s = min(ema_decay, (1 + s) / (10 + s)) (s = steps done), so that the average forgets the random initialisation
even in a short run.

Options for paper 1's memorization chapter (ch10): `image_size` downsamples the images by area averaging
(e.g. 28 -> 16), `timesteps` restricts t to a few DDPM timesteps (one entry: a single-level denoising autoencoder
of the same architecture), `num_train` takes the first N training images, and `--snapshot-at` keeps copies of the
resume file along training (`export --resume-name resume_step0001000.pt` ships the weights of that step).

Every random draw of the loop (minibatch indices, t, eps) comes from one torch.Generator seeded with `seed`, and
the resume file stores its state with the model, EMA, optimizer, step counter and accumulated wall time, so that
stopping and resuming reproduces the uninterrupted run exactly (same device and thread count). The resume file is
written atomically every `checkpoint_every_s` seconds and at the end.

Class-conditional runs (num_classes = K > 0; Ho & Salimans 2022, classifier-free guidance): the UNet gets a class
embedding table of K + 1 rows, the last id K being the null class; each training label is replaced by K with
probability label_dropout (one uniform per image, from the same generator, drawn after the minibatch indices), so
the one network learns both eps(x_t, t, c) and the unconditional eps(x_t, t, null).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import copy
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from lowdim.images.data import DATASETS, IMAGE_SHAPES, load_dataset
from lowdim.images.unet import NUM_TIMESTEPS, build_unet, save_weights, sha256_file, unet_config
from lowdim.schedules import ddpm_alpha_bars

__all__ = ["RESUME_FILE", "GRAD_CLIP", "ema_decay_at", "update_ema", "TrainConfig", "training_images", "training_labels",
           "drop_labels", "downsample", "ddpm_loss", "TrainState", "model_config", "config_from_dict", "new_state",
           "load_state", "auto_device", "git_commit", "hardware", "snapshot_name", "train", "export"]

RESUME_FILE = "resume.pt"
GRAD_CLIP = 1.0  # max gradient norm (Ho et al. 2020)


def ema_decay_at(ema_decay: float, step: int) -> float:
    """EMA decay after `step` optimizer steps: min(ema_decay, (1 + step) / (10 + step))."""
    return min(ema_decay, (1.0 + step) / (10.0 + step))


@torch.no_grad()
def update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """theta_ema <- decay theta_ema + (1 - decay) theta, parameter by parameter (buffers: none in the UNet)."""
    for pe, p in zip(ema.parameters(), model.parameters()):
        pe.lerp_(p, 1.0 - decay)


@dataclass
class TrainConfig:
    """Everything that defines a run (stored in the resume file; a resumed run must use the same values)."""

    dataset: str = "fashion-mnist"
    num_train: int = 0            # 0 = the whole training split, else its first num_train images
    channels: tuple[int, ...] = (32, 64, 64)
    batch_size: int = 128
    lr: float = 5e-4
    warmup_steps: int = 100
    ema_decay: float = 0.999
    seed: int = 0
    num_timesteps: int = NUM_TIMESTEPS
    num_classes: int = 0          # 0 = unconditional; K > 0: class embedding with K + 1 ids (id K = null class)
    label_dropout: float = 0.0    # probability a label is replaced by the null id K (classifier-free guidance)
    image_size: int = 0           # 0 = the dataset's native side, else images downsampled to image_size (area average)
    timesteps: tuple[int, ...] = ()  # () = t ~ U{0..T-1}; else t uniform over these (one entry: a single-level DAE)

    def validate(self) -> None:
        """Raise ValueError naming the first parameter outside its allowed range."""
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {DATASETS}, got {self.dataset!r}")
        checks = [("num_train", self.num_train >= 0, ">= 0"), ("batch_size", self.batch_size >= 1, ">= 1"),
                  ("lr", 0 < self.lr < 1, "in (0, 1)"), ("warmup_steps", self.warmup_steps >= 0, ">= 0"),
                  ("ema_decay", 0 <= self.ema_decay < 1, "in [0, 1)"),
                  ("num_timesteps", self.num_timesteps >= 2, ">= 2"),
                  ("num_classes", self.num_classes >= 0, ">= 0 (0 = unconditional)"),
                  ("label_dropout", 0 <= self.label_dropout < 1 and (self.num_classes > 0 or self.label_dropout == 0),
                   "in [0, 1), and 0 when num_classes = 0")]
        side = IMAGE_SHAPES[self.dataset][1]
        checks += [("image_size", self.image_size == 0 or 4 <= self.image_size <= side, f"0 or in [4, {side}]"),
                   ("timesteps", all(0 <= t < self.num_timesteps for t in self.timesteps)
                    and len(set(self.timesteps)) == len(self.timesteps),
                    f"distinct integers in [0, {self.num_timesteps - 1}]")]
        for name, ok, allowed in checks:
            if not ok:
                raise ValueError(f"{name} must be {allowed}, got {getattr(self, name)}")


def training_images(config: TrainConfig, data_dir: Path | None = None) -> torch.Tensor:
    """The training images (N, C, H, W) in [-1, 1] that the run draws its minibatches from."""
    ds = load_dataset(config.dataset) if data_dir is None else load_dataset(config.dataset, data_dir)
    x = ds.x_train
    if config.num_train > len(x):
        raise ValueError(f"num_train must be <= {len(x)} for {config.dataset}, got {config.num_train}")
    x = x[: config.num_train] if config.num_train else x
    return downsample(x, config.image_size) if config.image_size else x


def training_labels(config: TrainConfig, data_dir: Path | None = None) -> torch.Tensor:
    """The labels (N,) int64 of `training_images`, each checked to lie in [0, num_classes)."""
    ds = load_dataset(config.dataset) if data_dir is None else load_dataset(config.dataset, data_dir)
    y = ds.y_train[: config.num_train] if config.num_train else ds.y_train
    if int(y.max()) >= config.num_classes:
        raise ValueError(f"num_classes must be >= {int(y.max()) + 1} for {config.dataset}, got {config.num_classes}")
    return y


def drop_labels(labels: torch.Tensor, num_classes: int, label_dropout: float, gen: torch.Generator) -> torch.Tensor:
    """labels (B,) with each entry replaced by the null id num_classes with probability label_dropout.

    One uniform per entry is drawn from gen (also when label_dropout = 0, so the stream does not depend on it).
    """
    drop = torch.rand(labels.shape, generator=gen, device=gen.device) < label_dropout
    return torch.where(drop, torch.full_like(labels, num_classes), labels)


def downsample(x: torch.Tensor, size: int) -> torch.Tensor:
    """Area-average (N, C, H, W) images to (N, C, size, size): each output pixel is the mean of the input pixels its
    cell [i H/size, (i+1) H/size) x [j H/size, (j+1) H/size) covers, pixels cut by a cell border weighted by the
    covered fraction (exact area averaging, also when H / size is not an integer, e.g. 28 -> 16).
    Identity when size equals the side."""
    if x.ndim != 4 or size < 1:
        raise ValueError(f"x must be (N, C, H, W) and size >= 1, got shape {tuple(x.shape)} and size {size}")
    if size == x.shape[-1]:
        return x
    # repeat every pixel rep times per axis so that the cell borders fall on whole pixels, then average the cells
    h = x.shape[-1]
    rep = size // math.gcd(h, size)
    return torch.nn.functional.avg_pool2d(x.repeat_interleave(rep, -1).repeat_interleave(rep, -2), h * rep // size)


def ddpm_loss(model, x0: torch.Tensor, alpha_bar: torch.Tensor, gen: torch.Generator,
              class_labels: torch.Tensor | None = None, timesteps: torch.Tensor | None = None) -> torch.Tensor:
    """L_simple on one batch: mean over pixels and batch of (eps - eps_theta(x_t, t[, c]))^2, t and eps from gen.

    x0: (B, C, H, W); alpha_bar: (T,) float64; class_labels: (B,) int64 or None (unconditional); timesteps: None
    (t ~ U{0..T-1}) or (K,) int64, t uniform over them.  -> scalar loss.
    """
    if timesteps is None:
        t = torch.randint(0, len(alpha_bar), (x0.shape[0],), generator=gen, device=gen.device)
    else:
        t = timesteps[torch.randint(0, len(timesteps), (x0.shape[0],), generator=gen, device=gen.device)]
    eps = torch.randn(x0.shape, generator=gen, device=gen.device, dtype=x0.dtype)
    ab = alpha_bar.to(x0.device)[t].to(x0.dtype).view(-1, 1, 1, 1)
    xt = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
    return torch.mean((model(xt, t, class_labels=class_labels).sample - eps) ** 2)


@dataclass
class TrainState:
    """Model, EMA copy, optimizer, the run's generator, step counter, wall time and loss log."""

    model: torch.nn.Module
    ema: torch.nn.Module
    opt: torch.optim.Optimizer
    gen: torch.Generator
    step: int = 0
    wall_s: float = 0.0
    losses: list = field(default_factory=list)   # [step, mean loss over the last log interval]

    def save(self, path: Path, config: TrainConfig, meta: dict) -> None:
        """Write the resume file atomically (tmp file + os.replace)."""
        blob = dict(config=asdict(config), meta=meta, step=self.step, wall_s=self.wall_s, losses=self.losses,
                    model=self.model.state_dict(), ema=self.ema.state_dict(), opt=self.opt.state_dict(),
                    gen=self.gen.get_state())
        tmp = path.with_suffix(".tmp")
        torch.save(blob, tmp)
        os.replace(tmp, path)


def model_config(config: TrainConfig) -> dict:
    """UNet2DModel keyword arguments for the run: the dataset's image shape, the run's channels and, for a
    conditional run, a class embedding of num_classes + 1 ids (the last one is the null class)."""
    channels, side = IMAGE_SHAPES[config.dataset]
    extra = dict(num_class_embeds=config.num_classes + 1) if config.num_classes else {}
    return unet_config(sample_size=config.image_size or side, in_channels=channels, channels=config.channels, **extra)


def config_from_dict(stored: dict) -> TrainConfig:
    """The TrainConfig a resume file stores (lists back to tuples; fields added later take their defaults)."""
    return TrainConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in stored.items()})


def new_state(config: TrainConfig, device: torch.device) -> TrainState:
    """Initial state: seeded model, EMA = model, Adam, generator seeded with config.seed + 1."""
    model = build_unet(model_config(config), config.seed).to(device)
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    gen = torch.Generator(device=device).manual_seed(config.seed + 1)
    return TrainState(model, ema, opt, gen)


def load_state(path: Path, config: TrainConfig, device: torch.device) -> tuple[TrainState, dict]:
    """Rebuild a TrainState from a resume file; config must equal the stored one."""
    blob = torch.load(path, map_location=device, weights_only=True)
    stored = config_from_dict(blob["config"])
    if stored != config:
        raise ValueError(f"the run in {path.parent} was started with {stored}, not {config}; use a new --run folder")
    state = new_state(config, device)
    state.model.load_state_dict(blob["model"])
    state.ema.load_state_dict(blob["ema"])
    state.opt.load_state_dict(blob["opt"])
    state.gen.set_state(blob["gen"].cpu() if device.type == "cpu" else blob["gen"])
    state.step, state.wall_s, state.losses = blob["step"], blob["wall_s"], blob["losses"]
    return state, blob["meta"]


def auto_device() -> torch.device:
    """cuda when available, else cpu."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def git_commit(repo: Path) -> str:
    """HEAD of the repository holding the code ('unknown' outside a git checkout)."""
    try:
        return subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def hardware(device: torch.device) -> str:
    """A one-line description of where the run executes."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (cuda), torch {torch.__version__}"
    return (f"{platform.processor() or platform.machine()} CPU, {os.cpu_count()} cores, "
            f"{torch.get_num_threads()} torch threads, torch {torch.__version__}")


def snapshot_name(step: int) -> str:
    """File name of the resume-file snapshot a run keeps at `step` (see `train(snapshot_at=...)`)."""
    return f"resume_step{step:07d}.pt"


def train(run_dir: Path, config: TrainConfig, steps: int, checkpoint_every_s: float = 300.0, log_every: int = 50,
          device: torch.device | None = None, data_dir: Path | None = None, progress: bool = True,
          snapshot_at: tuple[int, ...] = ()) -> TrainState:
    """Train (or resume) the run in run_dir until `steps` total optimizer steps; returns the final state.

    snapshot_at: steps after which a copy of the resume file is kept as run_dir/resume_stepNNNNNNN.pt (checkpoints
    along training; `export(..., resume_name=...)` ships one). They do not change the run's trajectory.

    lr at step s (0-based) = config.lr * min(1, (s + 1) / warmup_steps). Writes run_dir/resume.pt every
    checkpoint_every_s seconds of training and at the end, and run_dir/losses.json (the log) at the end.
    """
    config.validate()
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if checkpoint_every_s <= 0:
        raise ValueError(f"checkpoint_every_s must be > 0, got {checkpoint_every_s}")
    if any(not 1 <= s <= steps for s in snapshot_at):
        raise ValueError(f"snapshot_at must lie in [1, steps={steps}], got {tuple(snapshot_at)}")
    device = device or auto_device()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    resume = run_dir / RESUME_FILE
    if resume.exists():
        state, meta = load_state(resume, config, device)
    else:
        state = new_state(config, device)
        meta = dict(command=" ".join([Path(sys.executable).name, "-m", "lowdim.images.train"] + sys.argv[1:]),
                    commit=git_commit(Path(__file__).resolve().parent), hardware=hardware(device))
    x_all = training_images(config, data_dir).to(device)
    y_all = training_labels(config, data_dir).to(device) if config.num_classes else None
    alpha_bar = ddpm_alpha_bars(config.num_timesteps).to(device)
    levels = torch.tensor(config.timesteps, dtype=torch.long, device=device) if config.timesteps else None
    state.model.train()
    last_ckpt, window = time.perf_counter(), []
    bar = tqdm(total=steps, initial=state.step, desc="DDPM training", disable=not progress, mininterval=5)
    while state.step < steps:
        t0 = time.perf_counter()
        for g in state.opt.param_groups:
            g["lr"] = config.lr * min(1.0, (state.step + 1) / max(config.warmup_steps, 1))
        idx = torch.randint(0, len(x_all), (config.batch_size,), generator=state.gen, device=device)
        labels = None if y_all is None else drop_labels(y_all[idx], config.num_classes, config.label_dropout, state.gen)
        loss = ddpm_loss(state.model, x_all[idx], alpha_bar, state.gen, labels, levels)
        state.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(state.model.parameters(), GRAD_CLIP)
        state.opt.step()
        state.step += 1
        update_ema(state.ema, state.model, ema_decay_at(config.ema_decay, state.step))
        window.append(loss.item())
        if state.step % log_every == 0 or state.step == steps:
            state.losses.append([state.step, sum(window) / len(window)])
            bar.set_postfix(loss=f"{state.losses[-1][1]:.4f}")
            window = []
        bar.update(1)
        now = time.perf_counter()
        state.wall_s += now - t0
        if now - last_ckpt >= checkpoint_every_s or state.step == steps or state.step in snapshot_at:
            state.save(resume, config, meta)
            last_ckpt = now
        if state.step in snapshot_at:
            shutil.copyfile(resume, run_dir / snapshot_name(state.step))
    bar.close()
    (run_dir / "losses.json").write_text(json.dumps(state.losses) + "\n")
    return state


def export(run_dir: Path, out: Path, resume_name: str = RESUME_FILE, copy_resume: bool = True) -> dict:
    """Ship a run: its EMA weights to `out` (.safetensors) with a provenance JSON beside it, and (copy_resume) a
    copy of its resume file as `out` with suffix .resume.pt (a later session continues training from it: copy it
    into a run folder as resume.pt and rerun the same train command with more steps). resume_name: the run's
    resume file, or one of its snapshots (`snapshot_name(step)`) to ship the weights at that step."""
    out = Path(out)
    src = Path(run_dir) / resume_name
    if not src.is_file():
        raise FileNotFoundError(f"{src} is missing: resume_name must be {RESUME_FILE} or a snapshot of the run")
    blob = torch.load(src, map_location="cpu", weights_only=True)
    config = config_from_dict(blob["config"])
    model = build_unet(model_config(config), config.seed)
    model.load_state_dict(blob["ema"])
    provenance = dict(blob["meta"], weights="EMA", train_config=blob["config"], steps=blob["step"],
                      images_seen=blob["step"] * config.batch_size, wall_time_s=round(blob["wall_s"], 1),
                      final_loss=blob["losses"][-1][1] if blob["losses"] else None)
    if copy_resume:
        resume_copy = out.with_suffix(".resume.pt")
        resume_copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, resume_copy)
        provenance.update(resume_file=resume_copy.name, resume_sha256=sha256_file(resume_copy))
    provenance["losses"] = blob["losses"]
    return save_weights(model, out, provenance)


def main(argv: list[str] | None = None) -> None:
    """Command line: `train` (start or resume a run) and `export` (EMA weights + provenance)."""
    p = argparse.ArgumentParser(prog="python -m lowdim.images.train", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="start or resume a run")
    t.add_argument("--run", type=Path, required=True, help="run folder (resume.pt is resumed if present)")
    t.add_argument("--steps", type=int, required=True, help="total optimizer steps of the run")
    t.add_argument("--dataset", default="fashion-mnist")
    t.add_argument("--num-train", type=int, default=0, help="first N training images (0 = all)")
    t.add_argument("--channels", type=int, nargs="+", default=[32, 64, 64])
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--lr", type=float, default=5e-4)
    t.add_argument("--warmup-steps", type=int, default=100)
    t.add_argument("--ema-decay", type=float, default=0.999)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    t.add_argument("--checkpoint-every-s", type=float, default=300.0)
    t.add_argument("--num-classes", type=int, default=0, help="K > 0: class-conditional with null id K (0 = off)")
    t.add_argument("--label-dropout", type=float, default=0.0, help="probability a label becomes the null id")
    t.add_argument("--image-size", type=int, default=0, help="downsample to this side by area averaging (0 = native)")
    t.add_argument("--timesteps", type=int, nargs="*", default=[],
                   help="train only at these DDPM timesteps (one: a single-level DAE; none: t ~ U{0..T-1})")
    t.add_argument("--snapshot-at", type=int, nargs="*", default=[],
                   help="steps at which to keep a copy of the resume file (checkpoints along training)")
    e = sub.add_parser("export", help="write EMA weights + provenance JSON")
    e.add_argument("--run", type=Path, required=True)
    e.add_argument("--out", type=Path, required=True, help="path of the .safetensors file")
    e.add_argument("--resume-name", default=RESUME_FILE, help="resume file of the run, or a snapshot resume_step*.pt")
    e.add_argument("--no-resume-copy", action="store_true", help="ship the weights only, without the resume file")
    a = p.parse_args(argv)
    if a.cmd == "export":
        meta = export(a.run, a.out, resume_name=a.resume_name, copy_resume=not a.no_resume_copy)
        print(json.dumps({k: v for k, v in meta.items() if k != "losses"}, indent=2))
        return
    if a.threads < 0:
        raise ValueError(f"--threads must be >= 0, got {a.threads}")
    if a.threads:
        torch.set_num_threads(a.threads)
    cfg = TrainConfig(dataset=a.dataset, num_train=a.num_train, channels=tuple(a.channels), batch_size=a.batch_size,
                      lr=a.lr, warmup_steps=a.warmup_steps, ema_decay=a.ema_decay, seed=a.seed,
                      num_classes=a.num_classes, label_dropout=a.label_dropout, image_size=a.image_size,
                      timesteps=tuple(a.timesteps))
    st = train(a.run, cfg, a.steps, checkpoint_every_s=a.checkpoint_every_s, snapshot_at=tuple(a.snapshot_at))
    print(f"step {st.step}, loss {st.losses[-1][1]:.4f}, wall {st.wall_s:.0f} s")


if __name__ == "__main__":
    main()
