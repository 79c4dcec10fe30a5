"""The ELBO terms of a model, as training logs and evaluation reports them: one definition of the
terms (:data:`ELBO_TERMS`, their titles and one line of them), of their values in a model output
(:func:`terms_of`) and of their mean over a dataset split (:func:`elbo_terms`, with autocast)."""

from __future__ import annotations

import torch

from .data.base import SequenceDataset
from .device import autocast, seeded_eval
from .model import DSVAE

# the negative ELBO per sequence and its parts (nats): loss = recon + kl_f + kl_z. The one list of
# them: the model's output (DSVAEOutput), the training step's values, RUN/log.csv's columns, the
# curves and the tables of metrics.md read their names here
ELBO_TERMS = ("loss", "recon", "kl_f", "kl_z")
# the loss's parts alone: what a line or a table shows beside the loss
ELBO_PARTS = ELBO_TERMS[1:]
# how a plot's legend and a headline title each term
ELBO_TITLES = {"loss": "loss (-ELBO)", "recon": "recon", "kl_f": "KL_f", "kl_z": "KL_z"}


def format_parts(terms: dict, spec: str = ".2f") -> str:
    """The loss's parts (:data:`ELBO_PARTS`) of ``terms`` (name -> number) as one clause:
    "recon 812.31, kl_f 12.04, kl_z 30.50" (each number in the format ``spec``)."""
    return ", ".join(f"{k} {terms[k]:{spec}}" for k in ELBO_PARTS)


def terms_of(out) -> torch.Tensor:
    """The :data:`ELBO_TERMS` of a model output (:class:`~dsvae.model.DSVAEOutput`) as one (4,)
    tensor on its device: stacking them needs no host synchronisation."""
    return torch.stack([getattr(out, k) for k in ELBO_TERMS])


@torch.no_grad()
def elbo_terms(
    model: DSVAE,
    dataset: SequenceDataset,
    batch_size: int,
    device: torch.device,
    precision: str = "fp32",
    seed: int = 0,
    mse: bool = False,
) -> dict:
    """Mean :data:`ELBO_TERMS` per sequence over ``dataset`` (posterior sampling as in training, seeded
    by ``seed``; model in eval mode, under ``precision``'s autocast); with ``mse`` also "mse", the mean
    squared error per value of the model's reconstruction ``x_hat`` (of those samples) in model space.
    Does not disturb the caller's RNG or the model's mode."""
    device = torch.device(device)
    sums = torch.zeros(len(ELBO_TERMS) + 1, dtype=torch.float64, device=device)
    with seeded_eval(model, seed, device):
        for pos in dataset.batches(batch_size):
            x = dataset.model_batch(pos, device)
            with autocast(device, precision):
                out = model(x)
            sums[:-1] += terms_of(out).double() * len(pos)
            if mse:
                sums[-1] += (out.x_hat.float() - x).pow(2).flatten(1).mean(dim=1).double().sum()
    values = (sums / len(dataset)).tolist()
    terms = dict(zip(ELBO_TERMS, values))
    return {**terms, "mse": values[-1]} if mse else terms


__all__ = ["ELBO_PARTS", "ELBO_TERMS", "ELBO_TITLES", "elbo_terms", "format_parts", "terms_of"]
