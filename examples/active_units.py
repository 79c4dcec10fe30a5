"""Active units of f and of z: how many latent dimensions the encoder uses at all.

Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016, sec. 5.2: a unit u is
active when A_u = Cov_x(E_{u ~ q(u|x)}[u]) > 0.01, the variance over the data of its posterior mean.
A collapsed dimension (posterior = prior whatever the input) has A_u ~ 0. For z the variance is taken
over every frame of every test sequence, so a unit that moves only in time counts as active too.

    dsvae eval RUN --metric examples/active_units.py
    dsvae compare RUN_SEED0 RUN_SEED1 RUN_SEED2     # user_metrics.active_units.f, .z with intervals
"""

import numpy as np

from dsvae.evaluate.usermetrics import metric

THRESHOLD = 0.01  # Burda et al. 2016's threshold on the variance of the posterior mean


@metric(
    scores={
        "f": ("higher", "dims", "active dimensions of f (of f_dim)"),
        "z": ("higher", "dims", "active dimensions of z (of z_dim)"),
    }
)
def active_units(codes: dict, factors: dict) -> dict:
    """Active units of f and of z (Burda et al. 2016).

    ``codes``: posterior means of the test sequences, f (N, f_dim) and z (N, T, z_dim); ``factors``
    (the labels) are not used."""
    f = np.asarray(codes["f"], dtype=np.float64)
    z = np.asarray(codes["z"], dtype=np.float64).reshape(-1, codes["z"].shape[-1])  # (N*T, z_dim)
    return {"f": int((f.var(axis=0) > THRESHOLD).sum()), "z": int((z.var(axis=0) > THRESHOLD).sum())}
