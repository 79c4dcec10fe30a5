"""The diagonal Gaussian of every posterior and prior of the model, with its closed forms.

One definition of the densities and divergences the family's objectives use: the ELBO's KL terms
(:meth:`DiagGaussian.kl_standard` for q(f) against N(0, I), :meth:`DiagGaussian.kl` for q(z_t)
against the learned prior), the log-density of the minibatch mutual-information estimate
(:meth:`DiagGaussian.log_density`, :meth:`DiagGaussian.log_density_pairs`) and SPYL's farthest
negatives by KL. Every formula is elementwise over the last axis (no sum over the dimensions: the
callers sum where they need to), so the float rounding of each training term is that of the
expression written here, in this order.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

LOG_2PI = math.log(2 * math.pi)


class DiagGaussian(NamedTuple):
    """N(mean, diag(exp(logvar))): mean and log-variance of one shape (..., D), and (when drawn) a
    reparameterized sample of that shape (None where nothing was drawn, e.g. a teacher-forced prior)."""

    mean: Tensor
    logvar: Tensor
    sample: Tensor | None = None

    def float(self) -> DiagGaussian:
        """The same Gaussian with mean and log-variance in fp32 (the loss terms are computed in fp32
        also under bf16 autocast); the sample is kept as it is."""
        return DiagGaussian(self.mean.float(), self.logvar.float(), self.sample)

    def kl(self, other: DiagGaussian) -> Tensor:
        """Elementwise KL(self || other) in nats, shape of the broadcast means (..., D):

            0.5 * (logvar_p - logvar_q + (exp(logvar_q) + (mean_q - mean_p)^2) exp(-logvar_p) - 1)

        (the closed form of two Gaussians, e.g. Kingma & Welling 2014, appendix B, per dimension)."""
        return 0.5 * (
            other.logvar
            - self.logvar
            + (self.logvar.exp() + (self.mean - other.mean) ** 2) * torch.exp(-other.logvar)
            - 1.0
        )

    def kl_standard(self) -> Tensor:
        """Elementwise KL(self || N(0, I)) in nats (..., D): 0.5 (mean^2 + exp(logvar) - 1 - logvar)
        (Kingma & Welling 2014, appendix B)."""
        return 0.5 * (self.mean.pow(2) + self.logvar.exp() - 1.0 - self.logvar)

    def log_density(self, x: Tensor) -> Tensor:
        """Elementwise log N(x; mean, exp(logvar)) in nats, x broadcast against the mean (..., D):
        -0.5 ((x - mean)^2 exp(-logvar) + logvar + log 2 pi)."""
        return -0.5 * ((x - self.mean) ** 2 * torch.exp(-self.logvar) + self.logvar + LOG_2PI)

    def log_density_pairs(self, x: Tensor) -> Tensor:
        """log q_j(x_i) for every pair of a point x_i (..., B, D) and a member q_j of this batch of
        Gaussians (mean and logvar (..., B, D)), summed over D, in fp32 -> (..., B, B) (row i: the
        point, column j: the Gaussian). The minibatch estimates of an aggregate posterior need it
        (Chen et al. 2018, sec. 4.1)."""
        batch = DiagGaussian(self.mean.float().unsqueeze(-3), self.logvar.float().unsqueeze(-3))
        return batch.log_density(x.float().unsqueeze(-2)).sum(-1)


def reparameterize(mean: Tensor, logvar: Tensor) -> Tensor:
    """A draw mean + exp(logvar / 2) * eps, eps ~ N(0, I) from torch's global RNG, differentiable in
    mean and logvar (the reparameterization trick, Kingma & Welling 2014, sec. 2.4)."""
    return mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)


__all__ = ["DiagGaussian", "LOG_2PI", "reparameterize"]
