"""One training step, the one `dsvae train` runs, `dsvae bench` times and the judge's loop shares.

:class:`TrainingStep` is a step of the DSVAE family: the model's negative ELBO with the KL terms
weighted (the warm-up, :func:`kl_weight`), plus the weighted terms of the run's method
(:mod:`dsvae.methods`), then :func:`optimizer_step`: gradients, optional clipping of their global
norm, the step's learning rate, Adam. :func:`adam` makes the optimizer of both. The
judge (:func:`dsvae.evaluate.judge.train_judge`) trains with :func:`optimizer_step` on its own loss.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .device import autocast
from .elbo import ELBO_TERMS, terms_of
from .methods import Method, method_terms
from .model import DSVAE


def adam(
    params: Iterable[Tensor], lr: float, betas: tuple[float, float] = (0.9, 0.999), fused: bool | None = True
) -> torch.optim.Adam:
    """Adam over ``params``. ``fused`` True: one kernel for all parameters (what `dsvae train` uses;
    `dsvae bench`'s "fast" path against its "plain" one); False: one update per tensor, the
    straightforward implementation (the "plain" path); None: torch's own default for the device
    (the judge's). The three give the same update up to float rounding."""
    if fused is None:
        return torch.optim.Adam(params, lr=lr, betas=tuple(betas))
    kernel = {"fused": True} if fused else {"foreach": False}
    return torch.optim.Adam(params, lr=lr, betas=tuple(betas), **kernel)


def kl_weight(step: int, warmup_steps: int) -> float:
    """The weight of the KL terms at optimizer step ``step`` (0-based): rising linearly to 1 over the
    first ``warmup_steps`` steps (1/warmup at step 0), 1 without a warm-up (0)."""
    return min(1.0, (step + 1) / warmup_steps) if warmup_steps else 1.0


def optimizer_step(
    opt: torch.optim.Optimizer,
    loss: Tensor,
    params: Iterable[Tensor] = (),
    grad_clip: float = 0.0,
    lr: float | None = None,
) -> None:
    """One optimizer step on the scalar ``loss``: gradients (the old ones dropped), their global norm
    over ``params`` clipped to ``grad_clip`` (0: no clipping; Pascanu et al. 2013, sec. 3.2), every
    parameter group's learning rate set to ``lr`` (None: kept), then ``opt.step()``."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(params, grad_clip, foreach=True)
    if lr is not None:
        for group in opt.param_groups:
            group["lr"] = lr
    opt.step()


@dataclass
class TrainingStep:
    """A training step of ``model`` with ``opt``: ``step(x, kl_weight, lr)`` minimises, on the batch
    x (the model's input layout), recon + kl_weight (kl_f + kl_z) + sum(weight * term) of
    ``method``'s terms (none for DSVAE), the forward pass under ``precision``'s autocast on
    ``device``, the loss terms in fp32. ``net`` is the module called: the model, or its DDP or
    compiled wrapper (the model's parameters are the ones clipped)."""

    net: nn.Module
    model: DSVAE
    opt: torch.optim.Optimizer
    method: Method
    grad_clip: float = 0.0
    device: torch.device = torch.device("cpu")
    precision: str = "fp32"

    def term_names(self) -> tuple[str, ...]:
        """The names of the values a step returns: the ELBO's terms, then the method's."""
        return ELBO_TERMS + self.method.term_names()

    def __call__(self, x: Tensor, kl_weight: float, lr: float) -> Tensor:
        """One step on ``x``; returns the ELBO terms (:data:`~dsvae.elbo.ELBO_TERMS`, nats per
        sequence) and then the method's, detached, on the device (no host synchronisation)."""
        with autocast(self.device, self.precision):
            out = self.net(x)
            extra = method_terms(self.method, self.model, x, out)
        # in this order (the ELBO's, then each term's weight times the term): the loss's rounding
        loss = out.recon + kl_weight * (out.kl_f + out.kl_z)
        for weight, term in zip(self.method.weights().values(), extra):
            loss = loss + weight * term
        optimizer_step(self.opt, loss, self.model.parameters(), self.grad_clip, lr)
        return torch.cat([terms_of(out), extra]).detach()


__all__ = ["TrainingStep", "adam", "kl_weight", "optimizer_step"]
