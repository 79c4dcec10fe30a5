"""The DSVAE family's training objectives beyond the ELBO, as switches on one model and one loop.

DSVAE (Li & Mandt 2018) trains the negative ELBO alone. Its successors keep the backbone and add
terms (or change an encoder, which is :class:`~dsvae.config.DSVAEConfig`'s ``q_f``, ``q_z`` and
``z_input``):

- C-DSVAE (Bai, Wang & Gomes, NeurIPS 2021, eq. 9; code JunwenBai/C-DSVAE, train_cdsvae.py and
  loss.py): InfoNCE between the static latents of x and of a *content augmentation* of x (its frames
  shuffled: the same character, no motion order), InfoNCE between the dynamic latents of x and of a
  *motion augmentation* (the same motion in other colours), and a penalty on the mutual information
  between f and z_t estimated on the minibatch.
- DBSE (Berman et al., ICML 2024, sec. 4; code azencot-group/DBSE, video/sprites/run_sprites.py): an
  extra reconstruction term of the first frame, the frame that q(f) reads.

:class:`Objective` holds the weights (0: off); :func:`family_terms` computes the active terms of a
batch; the loop adds ``sum(weight * term)`` to the ELBO it minimises. Every term is in nats per
sequence (batch mean), like the ELBO's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .model import DSVAE, DSVAEOutput, Posterior


@dataclass(frozen=True)
class Objective:
    """The weights of the family's terms beyond the ELBO (each 0: off; all 0: DSVAE's objective).

    contrastive_f: InfoNCE of f between x and its content augmentation (C-DSVAE's weight_c_aug);
    contrastive_z: InfoNCE of z_1:T between x and its motion augmentation (weight_m_aug);
    mi_fz: the minibatch estimate of I(f; z_t) (C-DSVAE adds it with weight 1);
    tau: the InfoNCE temperature (C-DSVAE: 0.5);
    first_frame: the first frame's squared error (DBSE's weight_rec_frame)."""

    contrastive_f: float = 0.0
    contrastive_z: float = 0.0
    mi_fz: float = 0.0
    tau: float = 0.5
    first_frame: float = 0.0

    def __post_init__(self) -> None:
        for name in ("contrastive_f", "contrastive_z", "mi_fz", "first_frame"):
            if getattr(self, name) < 0:
                raise ValueError(f"the weight {name} must be >= 0 (0: off), got {getattr(self, name)}")
        if self.tau <= 0:
            raise ValueError(f"the InfoNCE temperature must be positive, got {self.tau}")

    def names(self) -> tuple[str, ...]:
        """The names of the active terms, in the order :func:`family_terms` returns them."""
        return tuple(n for n, w in zip(TERM_NAMES, self.weights()) if w)

    def weights(self) -> tuple[float, ...]:
        return (self.contrastive_f, self.contrastive_z, self.mi_fz, self.first_frame)


# the terms beyond the ELBO, as logged: InfoNCE of f and of z, I(f; z) estimate, first-frame error
TERM_NAMES = ("nce_f", "nce_z", "mi_fz", "recon_x1")


def method_name(obj: Objective, q_f: str = "sequence", z_input: str = "frames") -> str:
    """The family member an objective and encoder make: C-DSVAE (any contrastive or MI term), DBSE
    (q(f) from the first frame), else DSVAE."""
    if obj.contrastive_f or obj.contrastive_z or obj.mi_fz:
        return "C-DSVAE"
    if q_f == "first-frame" or z_input == "minus-first" or obj.first_frame:
        return "DBSE"
    return "DSVAE"


# --- augmentations -------------------------------------------------------------------------------


def content_augment(x: Tensor) -> Tensor:
    """C-DSVAE's content augmentation: each sequence's frames in a random order (never the identity
    for T >= 2), so the character stays and the motion's order goes. x (B, T, ...) -> same shape,
    same frames. Draws from torch's global RNG (the run's seed)."""
    B, T = x.shape[:2]
    if T < 2:
        return x
    order = torch.argsort(torch.rand(B, T, device=x.device), dim=1)
    same = (order == torch.arange(T, device=x.device)).all(dim=1)
    order[same] = order[same].roll(1, dims=1)  # an identity draw becomes a cyclic shift
    return x[torch.arange(B, device=x.device)[:, None], order]


def motion_augment(x: Tensor) -> Tensor:
    """C-DSVAE's motion augmentation: the same motion in other colours. One random colour map per
    sequence, the same for all of its frames: video (B, T, C, H, W) in [0, 1] gets its channels
    permuted (never the identity for C >= 2) and each channel a gain in [0.6, 1.4] and an offset in
    [-0.2, 0.2], clamped to [0, 1]; vector frames (B, T, D) get a gain in [0.8, 1.2] and an offset of
    0.2 of the sequence's spread per dimension. Every pixel that shares a colour with another in x
    shares one in the result, so silhouettes and their motion are kept. (The paper's list adds blur and
    crops; colour alone keeps the motion exactly.) Draws from torch's global RNG."""
    B, T = x.shape[:2]
    dev, dt = x.device, x.dtype
    if x.dim() == 5:
        C = x.shape[2]
        perm = torch.argsort(torch.rand(B, C, device=dev), dim=1)
        if C >= 2:
            same = (perm == torch.arange(C, device=dev)).all(dim=1)
            perm[same] = perm[same].roll(1, dims=1)
        y = x[torch.arange(B, device=dev)[:, None], :, perm].transpose(1, 2)  # (B, T, C, H, W)
        gain = (0.6 + 0.8 * torch.rand(B, 1, C, 1, 1, device=dev)).to(dt)
        offset = (0.4 * torch.rand(B, 1, C, 1, 1, device=dev) - 0.2).to(dt)
        return (y * gain + offset).clamp(0.0, 1.0)
    spread = x.std(dim=1, keepdim=True).clamp_min(1e-3)  # (B, 1, D)
    gain = (0.8 + 0.4 * torch.rand(B, 1, x.shape[2], device=dev)).to(dt)
    offset = (0.2 * (2 * torch.rand(B, 1, x.shape[2], device=dev) - 1)).to(dt) * spread
    return x * gain + offset


# --- estimators --------------------------------------------------------------------------------------


def info_nce(a: Tensor, b: Tensor, tau: float = 0.5) -> Tensor:
    """The InfoNCE (NT-Xent) loss of paired views a, b (N, D): for each of the 2N vectors, minus the
    log-softmax of its partner's cosine similarity / tau against the 2N - 1 others; the mean, nats.
    C-DSVAE's contrastive_loss(tau, normalize=True) (loss.py; SimCLR, Chen et al. 2020, eq. 1).

    Identical views, every other pair orthogonal: log(1 + (2N - 2) exp(-1/tau)); unrelated views in
    many dimensions: about log(2N - 1). Raises ValueError for views of different shapes or N < 2."""
    if a.shape != b.shape or a.dim() != 2:
        raise ValueError(
            f"info_nce needs two (N, D) views of one shape, got {tuple(a.shape)}, {tuple(b.shape)}"
        )
    n = a.shape[0]
    if n < 2:
        raise ValueError("info_nce needs at least 2 pairs (the others are the negatives)")
    x = F.normalize(torch.cat([a, b]).float(), dim=1)
    sim = (x @ x.T) / tau
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=x.device), float("-inf"))
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(x.device)
    return F.cross_entropy(sim, partner)


def _log_density_matrix(sample: Tensor, post: Posterior) -> Tensor:
    """log q(sample_i | x_j) for every pair: sample (..., B, D), post mean/logvar (..., B, D) ->
    (..., B, B), summed over D (diagonal Gaussians)."""
    s = sample.float().unsqueeze(-2)  # (..., B, 1, D)
    m, lv = post.mean.float().unsqueeze(-3), post.logvar.float().unsqueeze(-3)  # (..., 1, B, D)
    return (-0.5 * ((s - m) ** 2 * torch.exp(-lv) + lv + math.log(2 * math.pi))).sum(-1)


def mutual_information_fz(f_post: Posterior, z_post: Posterior) -> Tensor:
    """Minibatch estimate of I(f; z_t), averaged over t, in nats, from the posterior samples:

        log q(f_i) ~ logsumexp_j log q(f_i | x_j) - log B, likewise q(z_t,i) and q(f_i, z_t,i)
        I ~ mean_{t,i} [log q(f_i, z_t,i) - log q(f_i) - log q(z_t,i)]

    (C-DSVAE, train_cdsvae.py, after the minibatch-weighted sampling of Chen et al. 2018, eq. S6, with
    the batch as the data distribution). f_post (B, f_dim), z_post (B, T, z_dim), samples drawn. The
    public code subtracts log(B N) (N the dataset's size) instead of log B from each and takes
    relu(.): its value is this one plus log N, and the relu is active unless this estimate is below
    -log N, so the gradients agree; this one is the mutual information itself (tested against the
    closed form of correlated Gaussians). Raises ValueError without samples."""
    if f_post.sample is None or z_post.sample is None:
        raise ValueError("the mutual information estimate needs posterior samples (encode with sample=True)")
    B, T = z_post.sample.shape[:2]
    log_b = math.log(B)
    lf = _log_density_matrix(f_post.sample, f_post)  # (B, B)
    zt = Posterior(z_post.mean.transpose(0, 1), z_post.logvar.transpose(0, 1))
    lz = _log_density_matrix(z_post.sample.transpose(0, 1), zt)  # (T, B, B)
    log_qf = torch.logsumexp(lf, dim=-1) - log_b  # (B,)
    log_qz = torch.logsumexp(lz, dim=-1) - log_b  # (T, B)
    log_qfz = torch.logsumexp(lf.unsqueeze(0) + lz, dim=-1) - log_b  # (T, B)
    return (log_qfz - log_qf.unsqueeze(0) - log_qz).mean()


def first_frame_error(out: DSVAEOutput, x: Tensor) -> Tensor:
    """DBSE's frame term: the first frame's summed squared error, per sequence (batch mean). DBSE's
    code decodes [z_1, f] a second time for it; that is ``out.x_hat[:, 0]`` up to BatchNorm's batch
    statistics, so the model's reconstruction is reused."""
    return (out.x_hat[:, 0].float() - x[:, 0].float()).pow(2).flatten(1).sum(1).mean()


def family_terms(model: DSVAE, x: Tensor, out: DSVAEOutput, obj: Objective) -> Tensor:
    """The active terms of ``obj`` (:meth:`Objective.names`) for the batch x and its model output
    ``out``, as one (k,) fp32 tensor (k = 0: DSVAE). The contrastive terms encode the augmented
    views with the model (in its current mode: C-DSVAE's code runs them in training mode) and compare
    posterior means, as C-DSVAE does; no view is decoded."""
    terms = []
    if obj.contrastive_f:
        f_c = model.encode(content_augment(x)).f_post.mean
        terms.append(info_nce(out.f_post.mean, f_c, obj.tau))
    if obj.contrastive_z:
        z_m = model.encode(motion_augment(x)).z_post.mean
        terms.append(info_nce(out.z_post.mean.flatten(1), z_m.flatten(1), obj.tau))
    if obj.mi_fz:
        terms.append(mutual_information_fz(out.f_post, out.z_post))
    if obj.first_frame:
        terms.append(first_frame_error(out, x))
    if not terms:
        return torch.zeros(0, device=x.device)
    return torch.stack([t.float() for t in terms])


__all__ = [
    "Objective",
    "TERM_NAMES",
    "content_augment",
    "family_terms",
    "first_frame_error",
    "info_nce",
    "method_name",
    "motion_augment",
    "mutual_information_fz",
]
