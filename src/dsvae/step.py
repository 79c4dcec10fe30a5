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


def terms_weight(step: int, start: int = 0, warmup_steps: int = 0) -> float:
    """The factor of a method's terms at optimizer step ``step`` (0-based): 0 before ``start``, then
    rising linearly to 1 over ``warmup_steps`` steps (1/warmup at ``start``), 1 without a warm-up."""
    if step < start:
        return 0.0
    return min(1.0, (step - start + 1) / warmup_steps) if warmup_steps else 1.0


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
    """A training step of ``model`` with ``opt``: ``step(x, kl_weight, lr, terms_weight)`` minimises,
    on the batch x (the model's input layout), recon_weight recon + kl_weight (kl_f_weight kl_f +
    kl_z_weight kl_z) + sum(factor * weight * term) of ``method``'s terms (none for DSVAE), where
    factor is terms_weight for the terms named in ``delayed`` (all when it names none) and 1 else, the
    forward pass under ``precision``'s autocast on ``device``, the loss terms in fp32. ``net`` is
    the module called: the model, or its DDP or compiled wrapper (the model's parameters are the
    ones clipped). With every weight 1 the loss is the negative ELBO (plus the method's terms) in
    the rounding it always had."""

    net: nn.Module
    model: DSVAE
    opt: torch.optim.Optimizer
    method: Method
    grad_clip: float = 0.0
    device: torch.device = torch.device("cpu")
    precision: str = "fp32"
    recon_weight: float = 1.0
    kl_f_weight: float = 1.0
    kl_z_weight: float = 1.0
    delayed: tuple[str, ...] = ()

    @classmethod
    def of(cls, net: nn.Module, model: DSVAE, opt: torch.optim.Optimizer, options, device, precision: str,
           method: Method | None = None):  # fmt: skip
        """The step a run's ``options`` (a :class:`~dsvae.options.TrainConfig`) train: its method
        (``method``, the instance the run made, else a new one), clipping and the ELBO's weights."""
        method = method if method is not None else options.method_instance()
        weights = (options.recon_weight, options.kl_f_weight, options.kl_z_weight)
        delayed = options.delayed_terms
        return cls(net, model, opt, method, options.grad_clip, device, precision, *weights, delayed)

    def term_names(self) -> tuple[str, ...]:
        """The names of the values a step returns: the ELBO's terms, then the method's."""
        return ELBO_TERMS + self.method.term_names()

    def __call__(self, x: Tensor, kl_weight: float, lr: float, terms_weight: float = 1.0) -> Tensor:
        """One step on ``x`` (``terms_weight``: the factor of the method's terms named in ``delayed``,
        of all of them when it names none, :func:`terms_weight`; the others keep factor 1; when every
        factor is 0 the terms are not computed, else a term of factor 0 is computed and left out of the
        loss; either way it reads 0); returns the ELBO terms (:data:`~dsvae.elbo.ELBO_TERMS`, nats per
        sequence) and then the method's, detached, on the device (no host synchronisation)."""
        names = self.method.term_names()
        factors = [terms_weight if not self.delayed or n in self.delayed else 1.0 for n in names]
        with autocast(self.device, self.precision):
            out = self.net(x)
            if any(factors):
                extra = method_terms(self.method, self.model, x, out)
            else:
                extra = torch.zeros(len(names), device=x.device)
        # in this order (the ELBO's, then each term's weight times the term): the loss's rounding
        if (self.recon_weight, self.kl_f_weight, self.kl_z_weight) == (1.0, 1.0, 1.0):
            loss = out.recon + kl_weight * (out.kl_f + out.kl_z)
        else:
            kl = self.kl_f_weight * out.kl_f + self.kl_z_weight * out.kl_z
            loss = self.recon_weight * out.recon + kl_weight * kl
        for weight, factor, term in zip(self.method.weights().values(), factors, extra):
            if factor:
                loss = loss + (weight if factor == 1.0 else weight * factor) * term
        optimizer_step(self.opt, loss, self.model.parameters(), self.grad_clip, lr)
        if any(factors) and not all(factors):  # a term held off reads 0, computed or not
            held = torch.tensor([f == 0 for f in factors], device=extra.device)
            extra = torch.where(held, torch.zeros_like(extra), extra)
        return torch.cat([terms_of(out), extra]).detach()


__all__ = ["TrainingStep", "adam", "kl_weight", "optimizer_step", "terms_weight"]
