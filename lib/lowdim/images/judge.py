"""An independent judge for guided samples: a small CNN classifier trained only on clean training images.

    python -m lowdim.images.judge --dataset mnist --out data/checkpoints/mnist_judge.safetensors

Architecture: conv 3x3 (1 -> c1) - ReLU - maxpool 2 - conv 3x3 (c1 -> c2) - ReLU - maxpool 2 - flatten - linear
(c2 * (H/4)^2 -> hidden) - ReLU [penultimate features] - linear (hidden -> K). Cross-entropy, Adam, minibatches and
the initialisation drawn from seeded generators. The last `num_val` images of the training split are held out:
they never train the network and fit one temperature T (Guo et al. 2017, temperature scaling: minimise the held-out
negative log-likelihood of softmax(logits / T); the argmax, hence the accuracy, is unchanged). The judge has never
seen a generated image.

Weights ship as safetensors next to a provenance JSON (config, temperature, test accuracy, ECE, sha256).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from lowdim.images.data import load_dataset
from lowdim.images.train import git_commit, hardware
from lowdim.images.unet import checked_provenance, sha256_file

__all__ = ["JudgeConfig", "Judge", "train_judge", "fit_temperature", "judge_outputs", "evaluate_judge", "save_judge",
           "load_judge"]


@dataclass
class JudgeConfig:
    """Everything that defines a judge (stored in its provenance)."""

    dataset: str = "mnist"
    channels: tuple[int, int] = (16, 32)
    hidden: int = 64
    steps: int = 1500
    batch_size: int = 128
    lr: float = 2e-3
    num_val: int = 5000       # last training images held out for the temperature
    num_train: int = 0        # 0 = every training image before the held-out ones
    seed: int = 0

    def validate(self) -> None:
        """Raise ValueError naming the first parameter outside its allowed range."""
        checks = [("channels", len(self.channels) == 2 and min(self.channels) >= 1, "two entries >= 1"),
                  ("hidden", self.hidden >= 1, ">= 1"), ("steps", self.steps >= 1, ">= 1"),
                  ("batch_size", self.batch_size >= 1, ">= 1"), ("lr", 0 < self.lr < 1, "in (0, 1)"),
                  ("num_val", self.num_val >= 1, ">= 1"), ("num_train", self.num_train >= 0, ">= 0")]
        for name, ok, allowed in checks:
            if not ok:
                raise ValueError(f"{name} must be {allowed}, got {getattr(self, name)}")


class Judge(nn.Module):
    """The CNN of the module docstring; `forward` -> logits (B, K), `features` -> penultimate (B, hidden)."""

    def __init__(self, in_channels: int, side: int, num_classes: int, channels=(16, 32), hidden: int = 64):
        super().__init__()
        if side % 4:
            raise ValueError(f"side must be divisible by 4 (two 2x2 poolings), got {side}")
        self.body = nn.Sequential(nn.Conv2d(in_channels, channels[0], 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Conv2d(channels[0], channels[1], 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Flatten(), nn.Linear(channels[1] * (side // 4) ** 2, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, num_classes)
        self.side = side
        self.temperature = 1.0  # set by fit_temperature; applied by judge_outputs

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def _split(config: JudgeConfig, data) -> tuple:
    n = len(data.y_train)
    if config.num_val >= n:
        raise ValueError(f"num_val must be < {n} for {config.dataset}, got {config.num_val}")
    end = n - config.num_val
    if config.num_train > end:
        raise ValueError(f"num_train must be <= {end} (training images before the held-out ones), got {config.num_train}")
    start = 0 if not config.num_train else end - config.num_train
    return (data.x_train[start:end], data.y_train[start:end]), (data.x_train[end:], data.y_train[end:])


def train_judge(config: JudgeConfig, data=None) -> tuple[Judge, list]:
    """Train a judge on clean training images (held-out split excluded), then fit its temperature on that split.

    -> (judge in eval mode, loss log [[step, mean cross-entropy over the last interval]]).
    """
    config.validate()
    data = data or load_dataset(config.dataset)
    (x_tr, y_tr), (x_val, y_val) = _split(config, data)
    torch.manual_seed(config.seed)
    judge = Judge(x_tr.shape[1], x_tr.shape[-1], data.num_classes, config.channels, config.hidden)
    opt = torch.optim.Adam(judge.parameters(), lr=config.lr)
    gen = torch.Generator().manual_seed(config.seed + 1)
    log, window, every = [], [], max(config.steps // 20, 1)
    judge.train()
    for step in range(1, config.steps + 1):
        idx = torch.randint(0, len(y_tr), (config.batch_size,), generator=gen)
        loss = nn.functional.cross_entropy(judge(x_tr[idx]), y_tr[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        window.append(loss.item())
        if step % every == 0 or step == config.steps:
            log.append([step, sum(window) / len(window)])
            window = []
    judge.eval()
    judge.temperature = fit_temperature(_logits(judge, x_val), y_val)
    return judge, log


@torch.inference_mode()
def _logits(judge: Judge, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    return torch.cat([judge(b) for b in x.split(batch_size)]).double()


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """argmin_T NLL(softmax(logits / T), labels) over log T (L-BFGS, float64). logits: (N, K); labels: (N,)."""
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.5, max_iter=100, line_search_fn="strong_wolfe")
    logits = logits.double().clone()  # a normal tensor (the input may come from inference mode)

    def closure():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.detach().exp())


@torch.inference_mode()
def judge_outputs(judge: Judge, x: torch.Tensor, batch_size: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """(log p(k | x) (N, K) float64 with the judge's temperature, penultimate features (N, hidden) float64)."""
    logp, feats = [], []
    for b in x.split(batch_size):
        f = judge.features(b)
        logp.append(torch.log_softmax(judge.head(f).double() / judge.temperature, dim=1))
        feats.append(f.double())
    return torch.cat(logp), torch.cat(feats)


def evaluate_judge(judge: Judge, x: torch.Tensor, y: torch.Tensor, num_bins: int = 15) -> dict:
    """Test accuracy, mean cross-entropy and ECE (equal-width confidence bins) with and without the temperature."""
    from lowdim.density.classifier import expected_calibration_error

    logits = _logits(judge, x)
    out = dict(accuracy=float((logits.argmax(1) == y).double().mean()))
    for name, T in (("", judge.temperature), ("_uncalibrated", 1.0)):
        lp = torch.log_softmax(logits / T, dim=1)
        out["ece" + name] = expected_calibration_error(lp, y, num_bins)
        out["nll" + name] = float(nn.functional.nll_loss(lp, y))
    return out


def save_judge(judge: Judge, config: JudgeConfig, path: Path, provenance: dict) -> dict:
    """Weights to `path` (.safetensors) and `path`.json (config, temperature, provenance, sha256). -> the record."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in judge.state_dict().items()}, str(path))
    record = dict(provenance, judge_config=asdict(config), temperature=judge.temperature,
                  shape=[judge.body[0].in_channels, judge.side, judge.head.out_features], sha256=sha256_file(path))
    path.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def load_judge(path: Path) -> tuple[Judge, dict]:
    """A judge written by `save_judge`, its sha256 checked. -> (judge in eval mode, provenance)."""
    path = Path(path)
    meta = checked_provenance(path, "judge")
    cfg = meta["judge_config"]
    in_ch, side, k = meta["shape"]
    judge = Judge(in_ch, side, k, tuple(cfg["channels"]), cfg["hidden"])
    judge.load_state_dict(load_file(str(path)))
    judge.temperature = meta["temperature"]
    return judge.eval(), meta


def main(argv: list[str] | None = None) -> None:
    """Command line: train a judge and write its weights and provenance."""
    p = argparse.ArgumentParser(prog="python -m lowdim.images.judge", description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True, help="path of the .safetensors file")
    for f in JudgeConfig.__dataclass_fields__.values():
        if f.name != "channels":
            p.add_argument("--" + f.name.replace("_", "-"), type=type(f.default), default=f.default)
    p.add_argument("--channels", type=int, nargs=2, default=[16, 32])
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    cfg = JudgeConfig(**{k: (tuple(v) if k == "channels" else v) for k, v in vars(a).items()
                         if k in JudgeConfig.__dataclass_fields__})
    data = load_dataset(cfg.dataset)
    t0 = time.perf_counter()
    judge, log = train_judge(cfg, data)
    wall = time.perf_counter() - t0
    metrics = evaluate_judge(judge, data.x_test, data.y_test)
    rec = save_judge(judge, cfg, a.out, dict(command=" ".join(["python -m lowdim.images.judge"] + sys.argv[1:]),
                                             commit=git_commit(Path(__file__).resolve().parent),
                                             hardware=hardware(torch.device("cpu")), wall_time_s=round(wall, 1),
                                             test=metrics, losses=log))
    print(json.dumps({k: v for k, v in rec.items() if k != "losses"}, indent=2))


if __name__ == "__main__":
    main()
