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
- SPYL (Naiman, Berman & Azencot, ICML 2023, sec. 4; code azencot-group/SPYL, train.py and
  sample_and_predict.py): contrastive terms whose views the model makes itself, without
  augmentations ("sample and predict"): the positive of f decodes f with a motion drawn from the
  prior and encodes the result again, the positive of z decodes z with an f drawn from the prior;
  the negatives are the posteriors of sequences generated from the prior, the farthest from each
  anchor by KL; with C-DSVAE's I(f; z) penalty.

These are the building blocks; each method is one class over them (:mod:`dsvae.methods`: its
options, weights and named terms), and the loop adds ``sum(weight * term)`` to the ELBO it
minimises. Every term is in nats per sequence (batch mean), like the ELBO's.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .model import DSVAE, DSVAEOutput, Posterior

# SPYL's bank of negatives: this many sequences generated from the prior per sequence of the batch
# (the public code: 4 x 128)
SPYL_BANK = 4


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
    lf = f_post.log_density_pairs(f_post.sample)  # (B, B)
    zt = Posterior(z_post.mean.transpose(0, 1), z_post.logvar.transpose(0, 1))
    lz = zt.log_density_pairs(z_post.sample.transpose(0, 1))  # (T, B, B)
    log_qf = torch.logsumexp(lf, dim=-1) - log_b  # (B,)
    log_qz = torch.logsumexp(lz, dim=-1) - log_b  # (T, B)
    log_qfz = torch.logsumexp(lf.unsqueeze(0) + lz, dim=-1) - log_b  # (T, B)
    return (log_qfz - log_qf.unsqueeze(0) - log_qz).mean()


def contrastive_with_negatives(
    anchor: Tensor, positive: Tensor, negatives: Tensor, tau: float = 0.5
) -> Tensor:
    """SPYL's contrastive loss: for each anchor a_i (N, D), its positive p_i (N, D) and its own
    negatives n_i1..n_ik (N, k, D), minus the log-softmax of cos(a_i, p_i) / tau against
    cos(a_i, n_ij) / tau; the mean over i, nats (SPYL, sample_and_predict.py, contrastive_loss with
    normalize=True, written with logsumexp). Identical positives with orthogonal negatives:
    log(1 + k exp(-1/tau)); unrelated vectors in many dimensions: about log(k + 1). Raises
    ValueError for shapes that do not fit."""
    if anchor.dim() != 2 or positive.shape != anchor.shape:
        raise ValueError(
            "anchor and positive must be (N, D) of one shape, "
            f"got {tuple(anchor.shape)}, {tuple(positive.shape)}"
        )
    n, d = anchor.shape
    if negatives.dim() != 3 or negatives.shape[0] != n or negatives.shape[2] != d:
        raise ValueError(f"negatives must be (N, k, D) = ({n}, k, {d}), got {tuple(negatives.shape)}")
    a = F.normalize(anchor.float(), dim=-1)
    pos = (a * F.normalize(positive.float(), dim=-1)).sum(-1, keepdim=True)  # (N, 1)
    neg = torch.einsum("nd,nkd->nk", a, F.normalize(negatives.float(), dim=-1))  # (N, k)
    logits = torch.cat([pos, neg], dim=1) / tau
    return (torch.logsumexp(logits, dim=1) - logits[:, 0]).mean()


def farthest_by_kl(mean: Tensor, logvar: Tensor, bank_mean: Tensor, bank_logvar: Tensor, k: int) -> Tensor:
    """SPYL's negatives: for each posterior N(mean_i, exp(logvar_i)) (N, D), the means of the ``k``
    bank entries (M, D) of largest KL(q_i || bank_j), the farthest first -> (N, k, D) (SPYL,
    sample_and_predict.py, kl_contrast, neg_mode "soft", its default). Raises ValueError for
    k outside 1..M."""
    if not 1 <= k <= bank_mean.shape[0]:
        raise ValueError(f"k must be in 1..{bank_mean.shape[0]} (the bank's size), got {k}")
    q = Posterior(mean.float()[:, None], logvar.float()[:, None])  # (N, 1, D)
    bank = Posterior(bank_mean.float()[None], bank_logvar.float()[None])  # (1, M, D)
    kl = q.kl(bank).sum(-1)  # (N, M)
    return bank_mean[kl.topk(k, dim=1).indices]


def sample_predict_terms(
    model: DSVAE, out: DSVAEOutput, negatives: float = 0.5, tau: float = 0.5
) -> tuple[Tensor, Tensor]:
    """SPYL's two contrastive terms for a batch and its model output ``out`` (nats, batch means),
    each anchor against the ``negatives`` fraction of the bank, at temperature ``tau``:

    - of f: anchor the posterior mean of f; positive: f of the sequence decoded from (that mean,
      the prior's means along a rollout drawn from it), encoded again; negatives: the farthest by KL
      among the f posteriors of the bank (SPYL, cdsvae/model.py forward_fixed_content_for_classification_tr);
    - of z: anchor the posterior mean of z averaged over time; positive: that of the sequence
      decoded from (an f drawn from N(0, I), the posterior mean of z), encoded again; negatives
      likewise among the bank's (forward_fixed_action_for_classification_tr).

    The bank: ``SPYL_BANK`` x B sequences decoded from the prior (f ~ N(0, I), z the prior's means
    along a drawn rollout) and encoded, without gradients (sample_and_predict.py, samples_tr). The
    views are only encoded (the public code also decodes them, and uses only their means), and the
    prior's draws carry no gradient (the public code's rollout for the view of f carries one into
    the prior: here the prior is fitted by the ELBO's KL alone). Draws from torch's global RNG; the
    model runs in its current mode, as the public code's does."""
    f_mean = out.f_post.mean
    z_mean, z_logvar = out.z_post.mean.mean(1), out.z_post.logvar.mean(1)
    B = f_mean.shape[0]
    with torch.no_grad():
        n = SPYL_BANK * B
        bank = model.encode(model.decode(model.sample_prior_f(n), model.prior_rollout(n).mean))
    k = max(1, round(negatives * n))
    view_f = model.encode_f(model.decode(f_mean, model.prior_rollout(B).mean)).mean
    neg_f = farthest_by_kl(f_mean, out.f_post.logvar, bank.f_post.mean, bank.f_post.logvar, k)
    view_z = model.encode_z(model.decode(model.sample_prior_f(B), out.z_post.mean)).mean.mean(1)
    bank_z = (bank.z_post.mean.mean(1), bank.z_post.logvar.mean(1))
    neg_z = farthest_by_kl(z_mean, z_logvar, *bank_z, k)
    return (
        contrastive_with_negatives(f_mean, view_f, neg_f, tau),
        contrastive_with_negatives(z_mean, view_z, neg_z, tau),
    )


def first_frame_error(out: DSVAEOutput, x: Tensor) -> Tensor:
    """DBSE's frame term: the first frame's summed squared error, per sequence (batch mean). DBSE's
    code decodes [z_1, f] a second time for it; that is ``out.x_hat[:, 0]`` up to BatchNorm's batch
    statistics, so the model's reconstruction is reused."""
    return (out.x_hat[:, 0].float() - x[:, 0].float()).pow(2).flatten(1).sum(1).mean()


__all__ = [
    "SPYL_BANK",
    "content_augment",
    "contrastive_with_negatives",
    "farthest_by_kl",
    "first_frame_error",
    "info_nce",
    "motion_augment",
    "mutual_information_fz",
    "sample_predict_terms",
]
