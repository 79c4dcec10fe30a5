"""The ELBO terms of a model on a dataset split, as training logs and evaluation reports them."""

from __future__ import annotations

import torch

from .data.base import SequenceDataset
from .device import autocast
from .model import DSVAE


@torch.no_grad()
def elbo_terms(
    model: DSVAE, dataset: SequenceDataset, batch_size: int, device: torch.device, precision: str = "fp32"
) -> dict:
    """Mean loss, recon, kl_f, kl_z per sequence over ``dataset`` (posterior sampling as in
    training, model in eval mode). Does not disturb the training RNG."""
    was_training = model.training
    model.eval()
    sums = torch.zeros(4, dtype=torch.float64, device=device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(0)
        for pos in dataset.batches(batch_size):
            x = dataset.normalize(dataset.get_batch(pos).to(device, non_blocking=True))
            with autocast(device, precision):
                out = model(x)
            sums += torch.stack([out.loss, out.recon, out.kl_f, out.kl_z]).double() * len(pos)
    model.train(was_training)
    values = (sums / len(dataset)).tolist()
    return dict(zip(("loss", "recon", "kl_f", "kl_z"), values))


__all__ = ["elbo_terms"]
