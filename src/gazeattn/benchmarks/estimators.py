"""`gazeattn bench estimators`: bias, variance and cost of the gaze-latent gradient estimators.

For every problem and estimator setting, N independent estimates ĝ_1..ĝ_N of g = ∇_logits E_q[L] (g exact, by
closed form or by enumerating every joint gaze map) give

* rel_bias  = ‖mean ĝ − g‖ / ‖g‖       (Monte Carlo noise adds ≈ rel_bias_se = sqrt(var_ratio / N) to it;
  rel_bias_corrected = sqrt(max(0, ‖mean ĝ − g‖² − trace(Cov)/N)) / ‖g‖ removes that noise floor on
  average)
* cosine    = cos(mean ĝ, g)
* var_ratio = trace(Cov ĝ) / ‖g‖²      (per estimate, i.e. per step; not per loss evaluation)
* loss_evals: loss evaluations per clip per step; seconds: median wall time of one single-clip step.

Problems: Toy A and Toy B of reference/ESTIMATORS.md (loss tables; their multilinear extension is the relaxed
loss of Gumbel-Softmax), and a random attention + classifier head on the real 3×7×7 gaze grid (see
:class:`GazeHeadProblem`), whose exact gradient enumerates all 49³ = 117,649 joint maps.

The N estimates are computed as a batch of N identical clips (independent noise per clip), in groups of
``draw_batch`` to bound memory; timings come from separate single-clip calls.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from gazeattn.estimators import (
    direct_gradient,
    direct_joint_gradient,
    exact_moments,
    gumbel_softmax_gradient,
    local_expectation_gradient,
    reinforce_gradient,
    straight_through_gradient,
)
from gazeattn.estimators.closed_form import TOY_A_LOSS, TOY_A_THETA, TOY_B_LOSS, TOY_B_THETA, multilinear_loss_fn, table_moments

D = torch.float64


# ----------------------------------------------------------------------------------------------------------------
# problems


@dataclass(frozen=True)
class Problem:
    """One clip: logits (1, T', H', W'), a loss on maps (B, M, T', H', W') -> (B, M) (differentiable in z), the
    exact gradient g (1, T', H', W') and how many clips' worth of candidates to score at once."""

    name: str
    logits: Tensor
    loss_fn: Callable[[Tensor], Tensor]
    exact_grad: Tensor
    exact_seconds: float
    draw_batch: int
    note: str


def toy_a() -> Problem:
    theta, loss = TOY_A_THETA, TOY_A_LOSS
    t0 = time.perf_counter()
    _, g = table_moments(theta[None], loss)
    secs = time.perf_counter() - t0
    return Problem("A", theta.reshape(1, 1, 1, 5), multilinear_loss_fn(loss), g.reshape(1, 1, 1, 5), secs, 100_000,
                   "Toy A: one categorical, K=5, L = -f (linear)")


def toy_b() -> Problem:
    theta, table = TOY_B_THETA, TOY_B_LOSS
    t0 = time.perf_counter()
    _, g = table_moments(theta, table)
    secs = time.perf_counter() - t0
    return Problem("B", theta.reshape(1, 2, 1, 3), multilinear_loss_fn(table), g.reshape(1, 2, 1, 3), secs, 100_000,
                   "Toy B: two slots, K=3, L = -F[k1,k2] (bilinear extension)")


class GazeHeadProblem:
    """A deterministic random attention + classifier head on the real gaze grid (T', H', W') = (3, 7, 7).

    x5: (C, T', H', W') = ReLU(N(0,1)) features of one clip (B=1), C = ``channels``;
    a = sigmoid(FC_{147→147}(flatten z)) with FC weight ~ N(0, ``fc_scale``²), bias ~ N(0, 1);
    f = GAP(x5 ⊙ a) + GAP(x5);  class logits = W f + b, W ~ N(0, ``cls_scale``²/C);
    b = −(class logits at a = ½, i.e. centred) + 2·onehot(y): the label is plausible (CE ≈ 1) and what varies
    with z is the attention term; L = CE(class logits, y). Gaze logits θ ~ 1.5·N(0, 1).

    The scales make the problem non-trivial: with the defaults (``fc_scale`` = 3, ``cls_scale`` = 48) the standard
    deviation of L over gaze maps drawn from q is 0.56 nats around E_q[L] = 1.17 (at ``cls_scale`` = 1 it is
    ~0.01: every map would look the same, as in an untrained head). As in the real head, L depends on z only
    through the 147 attention weights.

    ``loss_maps`` scores any (possibly relaxed) maps z (B, M, 3, 7, 7) densely: flatten z @ FCᵀ, then a @ x5 (a
    (M×147)·(147×C) product against the one stored copy of x5; x5 is never copied per map). ``loss_indices``
    scores one-hot maps given as flat cell indices (M, 3): FC(flatten z) is the sum of 3 columns of the FC weight
    plus its bias, so a costs O(M·147) and the whole score O(M·(147·C + C·classes)) with GEMMs.
    """

    def __init__(self, *, channels: int = 64, classes: int = 10, grid: tuple[int, int, int] = (3, 7, 7),
                 fc_scale: float = 3.0, cls_scale: float = 48.0, label: int = 0, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        t, h, w = grid
        self.grid = grid
        self.cells = t * h * w  # 147 attention inputs/outputs
        self.x = torch.relu(torch.randn(self.cells, channels, generator=g, dtype=D))  # x5 as (T'H'W', C)
        self.gap = self.x.mean(0)  # GAP(x5): (C,)
        self.fc_w = fc_scale * torch.randn(self.cells, self.cells, generator=g, dtype=D)  # (out 147, in 147)
        self.fc_b = torch.randn(self.cells, generator=g, dtype=D)
        self.cls_w = cls_scale / math.sqrt(channels) * torch.randn(classes, channels, generator=g, dtype=D)
        centre = (0.5 * self.x.mean(0) + self.gap) @ self.cls_w.T  # class logits at a ≡ 1/2
        self.cls_b = -centre + 2.0 * torch.nn.functional.one_hot(torch.tensor(label), classes).to(D)
        self.label = label
        self.scales = (fc_scale, cls_scale)
        self.logits = 1.5 * torch.randn(1, t, h, w, generator=g, dtype=D)

    def _ce_from_attention(self, a: Tensor) -> Tensor:
        """a (..., 147) -> CE (...)."""
        f = a @ self.x / self.cells + self.gap  # GAP(x5 ⊙ a) + GAP(x5): (..., C)
        out = f @ self.cls_w.T + self.cls_b  # (..., classes)
        return torch.logsumexp(out, -1) - out[..., self.label]

    def loss_maps(self, z: Tensor) -> Tensor:
        """z (B, M, T', H', W') one-hot or relaxed -> CE (B, M); differentiable in z."""
        zf = z.to(D).flatten(2)  # (B, M, 147)
        return self._ce_from_attention(torch.sigmoid(zf @ self.fc_w.T + self.fc_b))

    def loss_indices(self, idx: Tensor) -> Tensor:
        """Flat cell indices of one-hot maps (M, T') -> CE (1, M), by gathering FC columns."""
        k = self.grid[1] * self.grid[2]
        cols = self.fc_w.T  # row j = column j of the FC weight: (147 in, 147 out)
        pre = self.fc_b + sum(cols[t * k + idx[:, t]] for t in range(idx.shape[1]))  # (M, 147)
        return self._ce_from_attention(torch.sigmoid(pre))[None]

    def problem(self) -> Problem:
        t0 = time.perf_counter()
        expected, g = exact_moments(self.logits, self.loss_indices, map_indices=True, chunk_size=16_384)
        secs = time.perf_counter() - t0
        self.expected_loss = float(expected[0])
        second, _ = exact_moments(
            self.logits, lambda idx: self.loss_indices(idx) ** 2, map_indices=True, chunk_size=16_384
        )
        self.loss_std = math.sqrt(max(0.0, float(second[0]) - self.expected_loss**2))
        return Problem("gaze 3x7x7", self.logits, self.loss_maps, g, secs, 64,
                       f"random attention+classifier head, C={self.x.shape[1]}, classes={self.cls_w.shape[0]}, "
                       f"fc_scale={self.scales[0]:g}, cls_scale={self.scales[1]:g}; "
                       f"E_q[L] = {self.expected_loss:.4f}, Std_q[L] = {self.loss_std:.4f} nats")


# ----------------------------------------------------------------------------------------------------------------
# estimator settings: (estimator, setting, loss evaluations per clip, fn(logits, loss_fn, generator) -> grad)


def _settings(cells: int, n_maps: int, slots: int) -> list[tuple[str, str, int | str, Callable]]:
    rows: list[tuple[str, str, int | str, Callable]] = []
    for mode in ("one_sided", "central"):
        for eps in (10.0, 1.0, 0.1, 0.01):
            rows.append((
                f"direct ({mode.replace('_', '-')})", f"eps={eps:g}", cells,
                lambda th, lf, gen, eps=eps, mode=mode: direct_gradient(th, None, lf, eps, mode=mode, generator=gen),
            ))
    if slots > 1 and n_maps <= 100:  # the exact joint perturbed argmax: only on tiny product spaces
        for eps in (1.0, 0.1):
            rows.append(("direct (joint argmax)", f"eps={eps:g}", n_maps,
                         lambda th, lf, gen, eps=eps: direct_joint_gradient(th, None, lf, eps, generator=gen)))
    rows.append(("local expectation", "-", cells,
                 lambda th, lf, gen: local_expectation_gradient(th, None, lf, generator=gen)))
    rows.append(("REINFORCE", "S=1, no baseline", 1,
                 lambda th, lf, gen: reinforce_gradient(th, lf, 1, generator=gen, baseline="none")))
    for s in (2, 8):
        rows.append(("REINFORCE-LOO", f"S={s}", s,
                     lambda th, lf, gen, s=s: reinforce_gradient(th, lf, s, generator=gen)))
    for tau in (1.0, 0.5, 0.1):
        rows.append(("Gumbel-Softmax", f"tau={tau:g}", "1 (+backward)",
                     lambda th, lf, gen, tau=tau: gumbel_softmax_gradient(th, None, lf, tau, generator=gen)))
    for tau in (1.0, 0.5, 0.1):
        rows.append(("straight-through GS", f"tau={tau:g}", "1 (+backward)",
                     lambda th, lf, gen, tau=tau: straight_through_gradient(th, None, lf, tau, generator=gen)))
    return rows


def _evaluate(problem: Problem, fn: Callable, draws: int, timing_reps: int, gen: torch.Generator) -> dict:
    g = problem.exact_grad.reshape(-1)
    total = torch.zeros_like(g)
    done = 0
    sum_outer_diag = torch.zeros_like(g)
    while done < draws:
        n = min(problem.draw_batch, draws - done)
        est = fn(problem.logits.expand(n, *problem.logits.shape[1:]), problem.loss_fn, gen).reshape(n, -1).to(D)
        total += est.sum(0)
        sum_outer_diag += (est**2).sum(0)
        done += n
    mean = total / draws
    var_trace = float(((sum_outer_diag - draws * mean**2).clamp_min(0) / max(1, draws - 1)).sum())
    gn = float(g.norm())
    times = []
    for _ in range(timing_reps):
        t0 = time.perf_counter()
        fn(problem.logits, problem.loss_fn, gen)
        times.append(time.perf_counter() - t0)
    var_ratio = var_trace / gn**2
    denom = float(mean.norm()) * gn
    sq_err = float((mean - g).norm()) ** 2
    return {
        "rel_bias": math.sqrt(sq_err) / gn,
        "rel_bias_corrected": math.sqrt(max(0.0, sq_err - var_trace / draws)) / gn,
        "rel_bias_se": math.sqrt(var_ratio / draws),
        "cosine": float(mean @ g) / denom if denom > 0 else 0.0,
        "var_ratio": var_ratio,
        "seconds": statistics.median(times),
        "draws": draws,
    }


def run(problems: list[str], *, quick: bool, draws: int | None = None, seed: int = 0) -> dict:
    """All rows for the named problems (subset of "A", "B", "gaze"), as the JSON document."""
    results, meta = [], {"problems": {}, "torch_threads": torch.get_num_threads()}
    for name in problems:
        if name == "A":
            prob = toy_a()
        elif name == "B":
            prob = toy_b()
        else:
            prob = GazeHeadProblem().problem()
        is_gaze = name == "gaze"
        n_draws = draws or ((1_000 if is_gaze else 20_000) if quick else (40_000 if is_gaze else 200_000))
        reps = 3 if quick else 10
        meta["problems"][prob.name] = {"note": prob.note, "grad_norm": float(prob.exact_grad.norm()), "draws": n_draws}
        cells = prob.logits.shape[1] * prob.logits.shape[2] * prob.logits.shape[3]
        k_maps = (prob.logits.shape[2] * prob.logits.shape[3]) ** prob.logits.shape[1]
        gen = torch.Generator().manual_seed(seed)
        for est, setting, evals, fn in _settings(cells, k_maps, prob.logits.shape[1]):
            row = {"problem": prob.name, "estimator": est, "setting": setting, "loss_evals": evals}
            row.update(_evaluate(prob, fn, n_draws, reps, gen))
            results.append(row)
        results.append({"problem": prob.name, "estimator": "exact enumeration", "setting": f"{k_maps} maps",
                        "loss_evals": k_maps, "rel_bias": 0.0, "rel_bias_corrected": 0.0, "rel_bias_se": 0.0,
                        "cosine": 1.0, "var_ratio": 0.0,
                        "seconds": prob.exact_seconds, "draws": 1})
    return {"results": results, "meta": meta}


def _fmt_seconds(s: float) -> str:
    return f"{s * 1e3:.2f} ms" if s >= 1e-3 else f"{s * 1e6:.0f} µs"


def to_markdown(doc: dict) -> str:
    lines = [
        "| problem | estimator | setting | rel. bias ± MC s.e. | noise-corrected | cosine | trace(Cov)/‖g‖² "
        "| loss evals | time/step |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in doc["results"]:
        lines.append(
            f"| {r['problem']} | {r['estimator']} | {r['setting']} | {r['rel_bias']:.4f} ± {r['rel_bias_se']:.4f} "
            f"| {r['rel_bias_corrected']:.4f} | {r['cosine']:.4f} | {r['var_ratio']:.4g} | {r['loss_evals']} "
            f"| {_fmt_seconds(r['seconds'])} |"
        )
    notes = [
        f"- {name}: {p['note']}; ‖g‖ = {p['grad_norm']:.4g}; {p['draws']} draws"
        for name, p in doc["meta"]["problems"].items()
    ]
    return "\n".join(lines + [""] + notes)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gazeattn bench estimators", description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print the JSON document instead of a markdown table")
    parser.add_argument("--quick", action="store_true", help="fewer Monte Carlo draws (well under a minute)")
    parser.add_argument("--problem", action="append", choices=["A", "B", "gaze"],
                        help="run only these problems (repeatable; default all)")
    parser.add_argument("--draws", type=int, default=None, help="Monte Carlo draws per setting (overrides the default)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.draws is not None and args.draws < 2:
        parser.error("--draws must be >= 2")
    t0 = time.perf_counter()
    doc = run(args.problem or ["A", "B", "gaze"], quick=args.quick, draws=args.draws, seed=args.seed)
    doc["meta"]["total_seconds"] = time.perf_counter() - t0
    if args.json:
        json.dump(doc, sys.stdout, indent=1)
        print()
    else:
        print(to_markdown(doc))
        print(f"\n(total {doc['meta']['total_seconds']:.1f} s, torch threads {doc['meta']['torch_threads']})")
    return 0
