"""Closed forms for small problems given as loss tables (tests and benchmarks).

A loss table ``table`` has shape (K,)*T': ``table[k_1, ..., k_T'] = L(z)``; ``thetas`` is (T', K).
"""

from __future__ import annotations


import torch
from torch import Tensor

__all__ = [
    "categorical_gradient",
    "direct_expectation_categorical",
    "table_moments",
    "direct_expectation_coordinate",
    "multilinear_loss_fn",
]


# The toy problems of reference/ESTIMATORS.md (L = −f, the loss to minimise), float64.
# Toy A: one categorical, K = 5.  Toy B: two slots, K = 3, L(k1, k2) = −F[k1][k2].
TOY_A_THETA = torch.tensor([0.5, -0.3, 1.2, 0.0, -1.0], dtype=torch.float64)
TOY_A_LOSS = -torch.tensor([1.0, -2.0, 0.5, 3.0, -0.5], dtype=torch.float64)
TOY_B_THETA = torch.tensor([[0.2, -0.4, 0.9], [-0.3, 0.6, 0.1]], dtype=torch.float64)
TOY_B_LOSS = -torch.tensor([[1.0, -0.5, 2.0], [0.0, 1.5, -1.0], [-2.0, 0.5, 0.3]], dtype=torch.float64)


def categorical_gradient(theta: Tensor, loss: Tensor) -> Tensor:
    """∇_θ E_{softmax(θ)}[L] = q ⊙ (L − q·L) for one categorical (K,)."""
    q = torch.softmax(theta, -1)
    return q * (loss - (q * loss).sum(-1, keepdim=True))


def direct_expectation_categorical(theta: Tensor, loss: Tensor, eps: float, mode: str = "one_sided") -> Tensor:
    """E_γ of the direct estimate for one categorical: E[onehot(argmax(θ+γ+sL))] = softmax(θ + sL), so
    one-sided (softmax(θ) − softmax(θ − εL))/ε, central (softmax(θ + εL) − softmax(θ − εL))/(2ε)."""
    if mode == "one_sided":
        return (torch.softmax(theta, -1) - torch.softmax(theta - eps * loss, -1)) / eps
    if mode == "central":
        return (torch.softmax(theta + eps * loss, -1) - torch.softmax(theta - eps * loss, -1)) / (2 * eps)
    raise ValueError(f"unknown mode {mode!r}")


def _joint_q(thetas: Tensor) -> Tensor:
    q = torch.softmax(thetas, -1)  # (T', K)
    joint = q[0]
    for t in range(1, q.shape[0]):
        joint = joint.unsqueeze(-1) * q[t]
    return joint  # (K,)*T'


def table_moments(thetas: Tensor, table: Tensor) -> tuple[Tensor, Tensor]:
    """Exact ``(E_q[L], ∇_θ E_q[L] (T', K))`` for a loss table."""
    q = torch.softmax(thetas, -1)
    joint = _joint_q(thetas)
    expected = (joint * table).sum()
    t_slots = thetas.shape[0]
    grads = []
    for t in range(t_slots):
        other = [d for d in range(t_slots) if d != t]
        a_t = (joint * table).sum(dim=other) if other else joint * table  # (K,)
        grads.append(a_t - q[t] * expected)
    return expected, torch.stack(grads)


def direct_expectation_coordinate(thetas: Tensor, table: Tensor, eps: float, mode: str = "one_sided") -> Tensor:
    """E of the coordinate-wise direct estimate, E_{z_{−t}∼q}[(q_t − softmax(θ_t − εL(z_{−t}, ·)))/ε]
    (one-sided;
    central analogously), (T', K)."""
    t_slots, k_cells = thetas.shape
    q = torch.softmax(thetas, -1)
    out = []
    for t in range(t_slots):
        rows = table.movedim(t, -1).reshape(-1, k_cells)  # (K^{T'-1}, K): L(z_{-t}, ·)
        others = [q[d] for d in range(t_slots) if d != t]
        w = torch.ones((), dtype=thetas.dtype)
        for qd in others:
            w = w.unsqueeze(-1) * qd
        w = w.reshape(-1)  # (K^{T'-1},) q(z_{-t}), same order as rows
        est = direct_expectation_categorical(thetas[t].expand_as(rows), rows, eps, mode)  # (K^{T'-1}, K)
        out.append((w[:, None] * est).sum(0))
    return torch.stack(out)


def multilinear_loss_fn(table: Tensor):
    """A ``loss_fn`` for maps (B, M, T', 1, K) (or (…, H', W') with H'·W' = K) evaluating the multilinear extension
    L(z) = Σ_k table[k] Π_t z_t(k_t): the table value on one-hot maps, differentiable on relaxed ones."""
    t_slots = table.dim()
    letters = "ijklnopq"[:t_slots]  # not b, m (batch, candidate)
    spec = ",".join(f"bm{c}" for c in letters) + f",{letters}->bm"

    def loss_fn(z: Tensor) -> Tensor:
        zf = z.flatten(-2).to(table.dtype)  # (B, M, T', K)
        return torch.einsum(spec, *[zf[:, :, t] for t in range(t_slots)], table)

    return loss_fn
