"""The diagonal Gaussian of the posteriors and priors: its KL and log-density against
torch.distributions, and the same bits as the expressions the ELBO was written with."""

import math

import torch
from torch.distributions import Normal, kl_divergence

from dsvae.gaussian import DiagGaussian, reparameterize
from dsvae.model import Posterior, kl_diag_gaussians


def gaussians(shape=(5, 3), seed=0):
    g = torch.Generator().manual_seed(seed)
    q = DiagGaussian(torch.randn(shape, generator=g), torch.randn(shape, generator=g))
    p = DiagGaussian(torch.randn(shape, generator=g), torch.randn(shape, generator=g))
    return q, p


def normal(d: DiagGaussian) -> Normal:
    return Normal(d.mean, torch.exp(0.5 * d.logvar))


def test_kl_is_torch_distributions_kl():
    q, p = gaussians()
    assert q.kl(p).shape == (5, 3)
    assert torch.allclose(q.kl(p), kl_divergence(normal(q), normal(p)), atol=1e-5)
    assert torch.allclose(q.kl(q), torch.zeros(5, 3), atol=1e-6)


def test_kl_standard_is_the_kl_against_n01():
    q, _ = gaussians()
    standard = DiagGaussian(torch.zeros(5, 3), torch.zeros(5, 3))
    assert torch.allclose(q.kl_standard(), kl_divergence(normal(q), normal(standard)), atol=1e-5)
    assert torch.allclose(q.kl_standard(), q.kl(standard), atol=1e-6)


def test_log_density_is_torch_distributions_log_prob():
    q, _ = gaussians()
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(q.log_density(x), normal(q).log_prob(x), atol=1e-5)


def test_log_density_pairs_reads_every_point_under_every_member():
    q, _ = gaussians((2, 4, 3))  # (..., B, D)
    x = torch.randn(2, 4, 3, generator=torch.Generator().manual_seed(2))
    pairs = q.log_density_pairs(x)
    assert pairs.shape == (2, 4, 4)
    for i in range(4):
        for j in range(4):
            member = DiagGaussian(q.mean[:, j], q.logvar[:, j])
            assert torch.allclose(pairs[:, i, j], normal(member).log_prob(x[:, i]).sum(-1), atol=1e-5)


def test_the_elbo_terms_keep_the_bits_of_the_formulas_they_replace():
    """The loss terms keep their float rounding: the same expressions, in the same order."""
    q, p = gaussians((64, 8), seed=3)
    old_kl = 0.5 * (
        p.logvar - q.logvar + (q.logvar.exp() + (q.mean - p.mean) ** 2) * torch.exp(-p.logvar) - 1.0
    )
    assert torch.equal(q.kl(p), old_kl)
    assert torch.equal(kl_diag_gaussians(q.mean, q.logvar, p.mean, p.logvar), old_kl)
    old_kl_f = 0.5 * (q.mean.pow(2) + q.logvar.exp() - 1.0 - q.logvar)
    assert torch.equal(q.kl_standard(), old_kl_f)
    x = torch.randn(64, 8, generator=torch.Generator().manual_seed(4))
    s, m, lv = x.unsqueeze(-2), q.mean.unsqueeze(-3), q.logvar.unsqueeze(-3)
    old_pairs = (-0.5 * ((s - m) ** 2 * torch.exp(-lv) + lv + math.log(2 * math.pi))).sum(-1)
    assert torch.equal(q.log_density_pairs(x), old_pairs)


def test_the_model_posterior_is_the_gaussian_and_samples_reparameterize():
    assert Posterior is DiagGaussian
    torch.manual_seed(0)
    mean, logvar = torch.zeros(20000, 1), torch.full((20000, 1), math.log(4.0))
    draw = reparameterize(mean, logvar)
    assert abs(float(draw.std()) - 2.0) < 0.05
    q = DiagGaussian(mean, logvar, draw).float()
    assert q.sample is draw and q.mean.dtype == torch.float32
