"""S3VAE's static consistency term as a dsvae method, in one file.

Zhu, Min, Kadav & Graf, "S3VAE: Self-Supervised Sequential VAE for Representation Disentanglement
and Data Generation", CVPR 2020, sec. 3.2, eq. 5: a triplet loss that pulls the static latent of a
sequence towards that of the same sequence with its frames shuffled (the same content, no motion
order) and pushes it from the static latent of another sequence,

    L = max(0, ||f(x) - f(shuffle(x))|| - ||f(x) - f(x')|| + m),

on the posterior means. dsvae trains it beside the negative ELBO on DSVAE's backbone:

    dsvae train --recipe quickstart-silhouette --method examples/static_triplet.py:StaticTriplet \
        --method-option weight=10 --out runs/triplet
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dsvae.config import NON_NEGATIVE, POSITIVE, option
from dsvae.methods import Method, MethodOptions
from dsvae.objectives import content_augment


@dataclass
class TripletOptions(MethodOptions):
    weight: float = option(1.0, "weight of the triplet term (0: off)", NON_NEGATIVE)
    margin: float = option(1.0, "the margin m between positive and negative distances", POSITIVE)


class StaticTriplet(Method):
    """DSVAE's objective plus S3VAE's static triplet on f (one term, ``triplet_f``)."""

    name = "static-triplet"
    title = "DSVAE + static triplet"
    citation = "Zhu et al., S3VAE, CVPR 2020 (sec. 3.2, eq. 5)"
    Options = TripletOptions

    def weights(self) -> dict[str, float]:
        return {"triplet_f": self.options.weight} if self.options.weight else {}

    def terms(self, model, x, out) -> dict[str, torch.Tensor]:
        if not self.options.weight:
            return {}
        f = out.f_post.mean  # (B, f_dim): q(f | x)'s means
        positive = model.encode_f(content_augment(x)).mean  # the same sequences, frames shuffled
        negative = f.roll(1, dims=0)  # another sequence of the batch for each
        d_pos = (f - positive).norm(dim=1)
        d_neg = (f - negative).norm(dim=1)
        return {"triplet_f": torch.relu(d_pos - d_neg + self.options.margin).mean()}
