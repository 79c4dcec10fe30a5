"""The Disentangled Sequential Autoencoder (Li & Mandt, ICML 2018) and its ELBO.

    p(x_1:T, z_1:T, f) = p(f) prod_t p(z_t | z_<t) p(x_t | z_t, f)
    q(f | x_1:T)  and  q(z_t | x_t)  (factorized)  or  q(z_1:T | x_1:T, f)  (full)
    (with a ``z_view`` other than "shared", q(z) reads a one-channel view of the frames instead of x;
    the successors' encoder changes are switches too: q(z_1:T | x_1:T) without f (``q_z`` full-no-f),
    q(f | x_1) from the first frame and q(z) reading v_t - v_1 (``q_f``, ``z_input``: DBSE), frame
    features that read the whole sequence through a BiLSTM (``frame_context``: DBSE's speech encoder),
    q(f) and q(z) fed by one BiLSTM (``q_f`` shared-lstm: C-DSVAE's and SPYL's public code) and an f
    head ending in a LeakyReLU (``f_head``: C-DSVAE's))

    ELBO = E_q[sum_t log p(x_t | z_t, f)] - KL(q(f) || p(f)) - sum_t E_q[KL(q(z_t | .) || p(z_t | z_<t))]

Layout: x is (B, T, C, H, W) in [0, 1] for video, (B, T, D) for vector frames (speech features).
Inside the ELBO the prior p(z_t | z_<t) is evaluated on the *posterior samples* z_<t (teacher
forcing); only generation rolls it out on its own samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import DSVAEConfig
from .device import fold_for_inference, per_frame
from .gaussian import DiagGaussian, reparameterize
from .weights import load_network, save_network

# every posterior and prior of the model is a diagonal Gaussian (dsvae.gaussian: its KL and density)
Posterior = DiagGaussian


@dataclass
class DSVAEOutput:
    loss: Tensor  # negative ELBO per sequence, batch mean = recon + kl_f + kl_z
    recon: Tensor  # -E_q[sum_t log p(x_t | z_t, f)] (up to the Gaussian's constant), batch mean
    kl_f: Tensor  # KL(q(f | x) || N(0, I)), batch mean
    kl_z: Tensor  # sum_t KL(q(z_t | .) || p(z_t | z_<t)), batch mean
    x_hat: Tensor  # reconstruction, like x (video in [0, 1])
    f_post: Posterior  # (B, f_dim)
    z_post: Posterior  # (B, T, z_dim)
    z_prior: Posterior  # (B, T, z_dim): p(z_t | z_<t) on the posterior samples


@dataclass
class Encoding:
    f: Tensor  # (B, f_dim): posterior mean, or a sample if asked for
    z: Tensor  # (B, T, z_dim): posterior mean, or a sample if asked for
    f_post: Posterior
    z_post: Posterior


def kl_diag_gaussians(mean_q: Tensor, logvar_q: Tensor, mean_p: Tensor, logvar_p: Tensor) -> Tensor:
    """Elementwise KL(N(mean_q, exp(logvar_q)) || N(mean_p, exp(logvar_p))), in closed form
    (:meth:`dsvae.gaussian.DiagGaussian.kl`)."""
    return DiagGaussian(mean_q, logvar_q).kl(DiagGaussian(mean_p, logvar_p))


def _affine_bn_lrelu(n_in: int, n_out: int) -> nn.Sequential:
    # no bias before BatchNorm: its mean subtraction cancels it (and its gradient is pure round-off)
    return nn.Sequential(nn.Linear(n_in, n_out, bias=False), nn.BatchNorm1d(n_out), nn.LeakyReLU(0.2))


class GaussianHead(nn.Module):
    """Two affine layers for the mean and the log-variance: h (..., n_in) -> Posterior (..., n_out).

    ``leaky_relu``: each ends in a LeakyReLU(0.2), as C-DSVAE's f head (JunwenBai/C-DSVAE model.py:8-20
    LinearUnit with batchnorm=False, used for f_mean and f_logvar at 136-137); else no nonlinearity.
    The LeakyReLU has no parameters: the weights' names and shapes are the same either way."""

    def __init__(self, n_in: int, n_out: int, leaky_relu: bool = False) -> None:
        super().__init__()
        self.mean = nn.Linear(n_in, n_out)
        self.logvar = nn.Linear(n_in, n_out)
        self.leaky_relu = leaky_relu

    def forward(self, h: Tensor, sample: bool = True) -> Posterior:
        mean, logvar = self.mean(h), self.logvar(h)
        if self.leaky_relu:
            mean, logvar = F.leaky_relu(mean, 0.2), F.leaky_relu(logvar, 0.2)
        return Posterior(mean, logvar, reparameterize(mean, logvar) if sample else mean)


def _affine_stack(n_in: int, n_mid: int, n_out: int) -> nn.Sequential:
    """n_in -> n_mid -> n_out (affine -> BN -> LeakyReLU each); n_mid = 0 skips the middle layer."""
    if not n_mid:
        return _affine_bn_lrelu(n_in, n_out)
    return nn.Sequential(_affine_bn_lrelu(n_in, n_mid), _affine_bn_lrelu(n_mid, n_out))


# --- per-frame encoders and decoders -------------------------------------------------------------


class ConvFrameEncoder(nn.Module):
    """(N, C, H, W) -> v (N, feature_dim): convs (-> BN -> LeakyReLU), flatten, affine layers."""

    def __init__(self, cfg: DSVAEConfig) -> None:
        super().__init__()
        layers, c_in = [], cfg.channels
        for c_out, stride in zip(cfg.conv_channels, cfg.conv_strides):
            pad = (cfg.conv_kernel - 1) // 2  # stride 1 keeps the size, stride 2 halves it exactly
            layers += [
                nn.Conv2d(c_in, c_out, cfg.conv_kernel, stride, pad, bias=False),
                nn.BatchNorm2d(c_out),
                nn.LeakyReLU(0.2),
            ]
            c_in = c_out
        self.convs = nn.Sequential(*layers)
        flat = c_in * cfg.bottom_size**2
        self.fc = _affine_stack(flat, cfg.fc_dim, cfg.feature_dim)

    def forward(self, x: Tensor) -> Tensor:
        if self.convs[0].weight.is_contiguous(memory_format=torch.channels_last):
            x = x.contiguous(memory_format=torch.channels_last)
        return self.fc(self.convs(x).flatten(1))


# the silhouette views' background rule: a pixel is background where no channel differs from the
# frame's top-left pixel by more than this (frames in [0, 1]); the views (dynamics_view) and the check
# that a dataset fits them (dsvae.train.check_view_fits) read it here
BACKGROUND_TOLERANCE = 0.04


def on_background(x: Tensor) -> Tensor:
    """Which pixels of frames x (N, C, H, W) in [0, 1] have the colour of the frame's top-left pixel,
    taken as a uniform background: within :data:`BACKGROUND_TOLERANCE` in every channel -> bool
    (N, 1, H, W)."""
    return (x - x[:, :, :1, :1]).abs().amax(dim=1, keepdim=True) <= BACKGROUND_TOLERANCE


def dynamics_view(x: Tensor, view: str) -> Tensor:
    """What a separate dynamics encoder sees of frames (N, C, H, W) in [0, 1]: one channel.

    silhouette: 1 where a pixel is not background (:func:`on_background`: it differs from the frame's
    top-left pixel by more than 4/100 in some channel), else 0; gray: the mean over the channels. Per
    frame: the sequence views (silhouette-change) are :func:`sequence_dynamics_view`'s. Raises
    ValueError for another view."""
    if view == "gray":
        return x.mean(dim=1, keepdim=True)
    if view == "silhouette":
        return (~on_background(x)).to(x.dtype)
    raise ValueError(f"unknown per-frame z_view {view!r}")


def sequence_dynamics_view(x: Tensor, view: str) -> Tensor:
    """What a separate dynamics encoder sees of sequences x (B, T, C, H, W) in [0, 1]: (B, T, 1, H, W).

    silhouette-change: the silhouette of each frame minus the mean silhouette of its sequence, in
    [-1, 1], summing to 0 over t at every pixel. Whatever keeps its place over the T frames (a hair
    style on a head that does not move, a body build) cancels; what moves remains. This is the
    colour-blind silhouette with the sequence's static shape removed: it keeps shape attributes out of
    z, which the plain silhouette shows (README, the main job). Not from the paper. Other views are
    per frame (:func:`dynamics_view`). Raises ValueError for an unknown view."""
    B, T = x.shape[:2]
    base = "silhouette" if view == "silhouette-change" else view
    d = dynamics_view(x.reshape(B * T, *x.shape[2:]), base)
    d = d.view(B, T, *d.shape[1:])
    if base != view:
        d = d - d.mean(dim=1, keepdim=True)
    return d


class ConvFrameDecoder(nn.Module):
    """[z_t, f] (N, z_dim + f_dim) -> frame pre-activations (N, C, H, W), mirroring the encoder."""

    def __init__(self, cfg: DSVAEConfig) -> None:
        super().__init__()
        c_top = cfg.conv_channels[-1]
        self.bottom = (c_top, cfg.bottom_size, cfg.bottom_size)
        flat = c_top * cfg.bottom_size**2
        self.fc = _affine_stack(cfg.z_dim + cfg.f_dim, cfg.fc_dim, flat)
        outs = (cfg.channels,) + cfg.conv_channels[:-1]  # layer i of the encoder maps outs[i] -> ch[i]
        layers = []
        for i in reversed(range(len(cfg.conv_channels))):
            c_in, c_out, stride = cfg.conv_channels[i], outs[i], cfg.conv_strides[i]
            k = cfg.conv_kernel
            if stride == 2:
                pad = (k - 1) // 2
                conv = nn.ConvTranspose2d(c_in, c_out, k, 2, pad, output_padding=k % 2, bias=i == 0)
            else:
                conv = nn.ConvTranspose2d(c_in, c_out, k, 1, (k - 1) // 2, bias=i == 0)
            layers.append(conv)
            if i > 0:  # the last layer has no BatchNorm; its output goes to tanh / sigmoid
                layers += [nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2)]
        self.deconvs = nn.Sequential(*layers)

    def forward(self, zf: Tensor) -> Tensor:
        h = self.fc(zf).view(-1, *self.bottom)
        if self.deconvs[0].weight.is_contiguous(memory_format=torch.channels_last):
            h = h.contiguous(memory_format=torch.channels_last)
        return self.deconvs(h)


class MLPFrameEncoder(nn.Module):
    """Vector frames (N, D) -> v (N, feature_dim)."""

    def __init__(self, cfg: DSVAEConfig) -> None:
        super().__init__()
        sizes = (cfg.frame_dim,) + cfg.mlp_hidden + (cfg.feature_dim,)
        self.net = nn.Sequential(*[_affine_bn_lrelu(a, b) for a, b in zip(sizes[:-1], sizes[1:])])

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class MLPFrameDecoder(nn.Module):
    """[z_t, f] -> vector frame (N, D), the Gaussian's mean (no output nonlinearity)."""

    def __init__(self, cfg: DSVAEConfig) -> None:
        super().__init__()
        sizes = (cfg.z_dim + cfg.f_dim,) + tuple(reversed(cfg.mlp_hidden))
        hidden = [_affine_bn_lrelu(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
        self.net = nn.Sequential(*hidden, nn.Linear(sizes[-1], cfg.frame_dim))

    def forward(self, zf: Tensor) -> Tensor:
        return self.net(zf)


# --- the model --------------------------------------------------------------------------------------


class DSVAE(nn.Module):
    def __init__(self, config: DSVAEConfig) -> None:
        super().__init__()
        config.validate()
        if not config.is_video and config.likelihood != "gaussian":
            raise ValueError("vector frames (frame_dim > 0) need likelihood='gaussian'")
        self.config = cfg = config
        H = cfg.hidden_dim
        self.frame_encoder = ConvFrameEncoder(cfg) if cfg.is_video else MLPFrameEncoder(cfg)
        self.frame_decoder = ConvFrameDecoder(cfg) if cfg.is_video else MLPFrameDecoder(cfg)
        if cfg.frame_context == "sequence":  # v_t = affine(BiLSTM(per-frame features)_t) (DBSE's speech)
            self.context_lstm = nn.LSTM(
                cfg.feature_dim, cfg.feature_dim, batch_first=True, bidirectional=True
            )
            self.context_fc = nn.Linear(2 * cfg.feature_dim, cfg.feature_dim)
        lrelu = cfg.f_head == "leaky-relu"
        if cfg.q_f == "sequence":  # q(f | x_1:T): BiLSTM over v_1:T; [forward at T, backward at 1]
            self.f_lstm = nn.LSTM(cfg.feature_dim, H, batch_first=True, bidirectional=True)
            self.f_head = GaussianHead(2 * H, cfg.f_dim, lrelu)
        elif cfg.q_f == "shared-lstm":  # the same end states, of q(z)'s BiLSTM (z_lstm, made below)
            self.f_head = GaussianHead(2 * H, cfg.f_dim, lrelu)
        else:  # q(f | x_1) from the first frame alone: affine -> tanh (DBSE's static_feature_extractor)
            self.f_static = nn.Sequential(nn.Linear(cfg.feature_dim, H), nn.Tanh())
            self.f_head = GaussianHead(H, cfg.f_dim, lrelu)
        if cfg.z_view != "shared":  # the dynamics path reads its own, colour-blind view of the frames
            widths = cfg.z_conv_channels or cfg.conv_channels
            zcfg = cfg.replace(channels=1, conv_channels=widths, z_view="shared")
            self.z_frame_encoder = ConvFrameEncoder(zcfg)
        if cfg.q_z == "factorized":  # q(z_t | x_t)
            self.z_mlp = nn.Sequential(nn.Linear(cfg.feature_dim, cfg.factorized_hidden), nn.LeakyReLU(0.2))
            self.z_head = GaussianHead(cfg.factorized_hidden, cfg.z_dim)
        else:  # q(z_1:T | x_1:T, f): BiLSTM over [v_t, f] ("full-no-f": v_t), then an RNN over it
            n_in = cfg.feature_dim + (cfg.f_dim if cfg.q_z == "full" else 0)
            self.z_lstm = nn.LSTM(n_in, H, batch_first=True, bidirectional=True)
            self.z_rnn = nn.RNN(2 * H, H, batch_first=True)
            self.z_head = GaussianHead(H, cfg.z_dim)
        # p(z_t | z_<t): an LSTM over the previous z (z_0 = 0, zero initial state)
        self.prior_lstm = nn.LSTM(cfg.z_dim, H, batch_first=True)
        self.prior_head = GaussianHead(H, cfg.z_dim)

    # --- input checks ----------------------------------------------------------------------------
    def _check_x(self, x: Tensor) -> None:
        """x's kind, layout and shape, then its values (:meth:`_check_values`). Raises ValueError
        saying what is wrong and how to convert the frames."""
        self._check_x_shape(x)
        self._check_values(x)

    def _check_values(self, x: Tensor) -> None:
        """Video frames within [0, 1] and vector frames finite. Frames in 0-255 as floats would be
        taken as a loss thousands of times the true one and garbage codes, without an error
        anywhere. One min/max pass over x (a small fraction of a step: benchmarks/bench_input_check.py);
        it reads the values on the host, so on an accelerator it runs outside autograd only (encoding,
        scoring), never inside a training step, which takes its frames from a dataset's
        ``normalize`` (always in range)."""
        if x.device.type != "cpu" and torch.is_grad_enabled():
            return
        if not self.config.is_video:
            if not bool(torch.isfinite(x).all()):
                raise ValueError("x holds NaN or infinite values; vector frames must be finite numbers")
            return
        lo, hi = torch.aminmax(x.detach())
        lo, hi = float(lo), float(hi)
        if lo >= 0.0 and hi <= 1.0:
            return
        if math.isnan(lo) or math.isnan(hi):
            raise ValueError("x holds NaN values; video frames must be numbers in [0, 1]")
        hint = (
            "frames in 0-255 as floats: divide by 255 (x / 255), or give uint8 frames to dataset.normalize(x)"
            if hi > 1.0 and hi <= 255.0 and lo >= 0.0
            else "frames normalised to [-1, 1]: use (x + 1) / 2"
            if lo >= -1.0 and hi <= 1.0
            else "scale the frames to [0, 1]"
        )
        raise ValueError(f"video frames must be in [0, 1], x spans [{lo:g}, {hi:g}]: {hint}")

    def _check_x_shape(self, x: Tensor) -> None:
        cfg = self.config
        layout = "(B, T, C, H, W)" if cfg.is_video else "(B, T, D)"
        want = (cfg.T,) + cfg.frame_shape
        if not isinstance(x, Tensor):
            raise ValueError(f"x must be a torch.Tensor {layout}, got {type(x).__name__}")
        if not x.is_floating_point():
            raise ValueError(
                f"x must be floating point (video in [0, 1]), got {x.dtype}; "
                "convert uint8 frames with dataset.normalize(x) or x.float() / 255"
            )
        if x.dim() != len(want) + 1:
            raise ValueError(
                f"x must be {layout} = (B, {', '.join(map(str, want))}), got shape {tuple(x.shape)}"
            )
        if cfg.is_video and x.shape[2] != cfg.channels:
            raise ValueError(
                f"x has {x.shape[2]} channels, the model expects {cfg.channels}: layout (B, T, C, H, W); "
                "channels-last arrays need x.permute(0, 1, 4, 2, 3)"
            )
        if tuple(x.shape[2:]) != cfg.frame_shape:
            raise ValueError(f"frames must be {cfg.frame_shape} ({layout}), got {tuple(x.shape[2:])}")
        if x.shape[1] != cfg.T:
            raise ValueError(f"sequences must have T = {cfg.T} frames (dim 1 of {layout}), got {x.shape[1]}")

    def _check_latents(self, f: Tensor | None, z: Tensor | None) -> None:
        cfg = self.config
        if f is not None and (f.dim() != 2 or f.shape[1] != cfg.f_dim):
            raise ValueError(f"f must be (B, f_dim={cfg.f_dim}), got shape {tuple(f.shape)}")
        if z is not None and (z.dim() != 3 or z.shape[2] != cfg.z_dim):
            raise ValueError(f"z must be (B, T, z_dim={cfg.z_dim}), got shape {tuple(z.shape)}")
        if f is not None and z is not None and f.shape[0] != z.shape[0]:
            raise ValueError(f"f and z must have the same batch size, got {f.shape[0]} and {z.shape[0]}")

    # --- inference ------------------------------------------------------------------------------
    def _frame_features(self, x: Tensor, view: str = "shared") -> Tensor:
        """Per-frame features (B, T, feature) of the frames, or of their dynamics view; with
        ``frame_context`` "sequence" the shared ones each read the whole sequence (a BiLSTM over
        them and an affine layer, as DBSE's speech encoder: azencot-group/DBSE audio/model/dbse.py)."""
        B, T = x.shape[:2]
        if view == "shared":
            v = per_frame(self.frame_encoder, x.reshape(B * T, *x.shape[2:])).view(B, T, -1)
            if self.config.frame_context == "sequence":
                v = self.context_fc(self.context_lstm(v)[0])
            return v
        d = sequence_dynamics_view(x, view)
        return per_frame(self.z_frame_encoder, d.reshape(B * T, *d.shape[2:])).view(B, T, -1)

    def _z_features(self, x: Tensor, v: Tensor) -> Tensor:
        """The frame features that q(z) reads (B, T, feature): v itself or those of the dynamics view,
        minus the first frame's with ``z_input`` minus-first (position 1 then holds zeros: DBSE's
        code puts a N(0, I) draw there, which would make the posterior mean random at test time)."""
        view = self.config.z_view
        u = v if view == "shared" else self._frame_features(x, view)
        return u - u[:, :1] if self.config.z_input == "minus-first" else u

    def _q_f(self, v: Tensor, sample: bool) -> Posterior:
        if self.config.q_f == "first-frame":
            return self.f_head(self.f_static(v[:, 0]), sample)
        lstm = self.z_lstm if self.config.q_f == "shared-lstm" else self.f_lstm
        return self._f_of_states(lstm(v)[0], sample)

    def _f_of_states(self, h: Tensor, sample: bool) -> Posterior:
        """q(f) from a BiLSTM's states h (B, T, 2H): [forward at T, backward at 1] -> (B, f_dim)."""
        H = self.config.hidden_dim
        return self.f_head(torch.cat([h[:, -1, :H], h[:, 0, H:]], dim=-1), sample)

    def _q_z(self, v: Tensor, f: Tensor | None, sample: bool) -> Posterior:
        if self.config.q_z == "factorized":
            return self.z_head(self.z_mlp(v), sample)
        g = (
            v
            if self.config.q_z == "full-no-f"
            else torch.cat([v, f.unsqueeze(1).expand(-1, v.shape[1], -1)], -1)
        )
        return self._z_of_states(self.z_lstm(g)[0], sample)

    def _z_of_states(self, h: Tensor, sample: bool) -> Posterior:
        """q(z) from q(z)'s BiLSTM states h (B, T, 2H): an RNN over them, then the head (B, T, z_dim)."""
        h, _ = self.z_rnn(h)
        return self.z_head(h, sample)

    def _posteriors(
        self, x: Tensor, v: Tensor, sample: bool, u: Tensor | None = None
    ) -> tuple[Posterior, Posterior]:
        """(q(f), q(z)) of frames x given their features v and q(z)'s (u; made here when None), q(f)
        first. With ``q_f`` shared-lstm one BiLSTM pass over v feeds both, as the public code's
        encode_and_sample_post (JunwenBai/C-DSVAE model.py:144-163; azencot-group/SPYL
        cdsvae/model.py:138-157): f from [forward state at T, backward state at 1], z from an RNN
        over all its states."""
        if self.config.q_f == "shared-lstm":
            h, _ = self.z_lstm(v)  # (B, T, 2H)
            return self._f_of_states(h, sample), self._z_of_states(h, sample)
        f_post = self._q_f(v, sample)
        z_post = self._q_z(self._z_features(x, v) if u is None else u, f_post.sample, sample)
        return f_post, z_post

    def encode(self, x: Tensor, sample: bool = False) -> Encoding:
        """Posteriors of f (B, f_dim) and z (B, T, z_dim); ``f``/``z`` are their means, or
        reparameterized samples with ``sample=True`` (the full q(z) then conditions on the f sample)."""
        self._check_x(x)
        f_post, z_post = self._posteriors(x, self._frame_features(x), sample)
        return Encoding(f_post.sample, z_post.sample, f_post, z_post)

    def encode_f(self, x: Tensor) -> Posterior:
        """q(f | x) alone (B, f_dim), its mean as the sample: exactly ``encode(x).f_post``, without
        running q(z). For the contrastive terms, which read one latent of a view (C-DSVAE, SPYL)."""
        self._check_x(x)
        return self._q_f(self._frame_features(x), sample=False)

    def encode_z(self, x: Tensor) -> Posterior:
        """q(z | x) alone (B, T, z_dim), its mean as the sample: exactly ``encode(x).z_post``; q(f)
        runs only where q(z) reads f (``q_z`` full)."""
        self._check_x(x)
        v = self._frame_features(x)
        f = self._q_f(v, sample=False).sample if self.config.q_z == "full" else None
        return self._q_z(self._z_features(x, v), f, sample=False)

    # --- generation -------------------------------------------------------------------------------
    def _frames_out(self, logits: Tensor) -> Tensor:
        """Decoder output -> frames in the data space: [0, 1] for video."""
        if not self.config.is_video:
            return logits
        if self.config.likelihood == "bernoulli":
            return torch.sigmoid(logits)
        return (torch.tanh(logits) + 1.0) * 0.5  # tanh at the boundary, mapped from [-1, 1] to [0, 1]

    def _decode_logits(self, f: Tensor, z: Tensor) -> Tensor:
        B, T = z.shape[:2]
        zf = torch.cat([z, f.unsqueeze(1).expand(-1, T, -1)], dim=-1).reshape(B * T, -1)
        out = per_frame(self.frame_decoder, zf, math.prod(self.config.frame_shape))
        return out.reshape(B, T, *out.shape[1:])

    def decode(self, f: Tensor, z: Tensor) -> Tensor:
        """f (B, f_dim), z (B, T, z_dim) -> frames (B, T, C, H, W) in [0, 1] (or (B, T, D))."""
        self._check_latents(f, z)
        return self._frames_out(self._decode_logits(f, z))

    def prior_z(self, z: Tensor) -> Posterior:
        """p(z_t | z_<t) for every t, conditioned on the given z_1:T (teacher forcing): one LSTM
        pass over [0, z_1, ..., z_{T-1}]. ``sample`` is None."""
        z_prev = torch.cat([torch.zeros_like(z[:, :1]), z[:, :-1]], dim=1)
        h, _ = self.prior_lstm(z_prev)
        return self.prior_head(h, sample=False)._replace(sample=None)

    @torch.no_grad()
    def prior_rollout(self, batch_size: int, T: int | None = None, sample: bool = True) -> Posterior:
        """Roll the learned prior out on its own draws (or its means with ``sample=False``): the
        prior's mean and logvar at each step given the z drawn before, and the z drawn, each
        (batch_size, T, z_dim)."""
        T = T or self.config.T
        device = self.prior_head.mean.weight.device
        z_t = torch.zeros(batch_size, 1, self.config.z_dim, device=device)
        state, steps = None, []
        for _ in range(T):
            h, state = self.prior_lstm(z_t, state)
            p = self.prior_head(h, sample=sample)
            z_t = p.sample
            steps.append(p)
        return Posterior(*(torch.cat([getattr(p, k) for p in steps], dim=1) for k in Posterior._fields))

    def sample_prior_z(self, batch_size: int, T: int | None = None, sample: bool = True) -> Tensor:
        """Roll the learned prior out on its own draws (or its means with ``sample=False``):
        z (batch_size, T, z_dim)."""
        return self.prior_rollout(batch_size, T, sample).sample

    @torch.no_grad()
    def sample_prior_f(self, batch_size: int) -> Tensor:
        device = self.prior_head.mean.weight.device
        return torch.randn(batch_size, self.config.f_dim, device=device)

    @torch.no_grad()
    def generate(
        self,
        f: Tensor | None = None,
        z: Tensor | None = None,
        batch_size: int | None = None,
        T: int | None = None,
        sample_z: bool = True,
    ) -> Tensor:
        """Decode, drawing whichever of f (from N(0, I)) and z (from the learned prior) is missing."""
        self._check_latents(f, z)
        if batch_size is None:
            batch_size = f.shape[0] if f is not None else z.shape[0] if z is not None else 1
        if f is None:
            f = self.sample_prior_f(batch_size)
        if z is None:
            z = self.sample_prior_z(batch_size, T, sample=sample_z)
        return self.decode(f, z)

    # --- the ELBO ---------------------------------------------------------------------------------
    def forward(self, x: Tensor) -> DSVAEOutput:
        """x (B, T, C, H, W) in [0, 1] -> the negative ELBO and its parts (per sequence, batch mean)."""
        self._check_x(x)
        return self._elbo(x, self._frame_features(x))

    def encode_and_elbo(self, x: Tensor) -> tuple[Encoding, DSVAEOutput]:
        """``(encode(x), forward(x))`` from one pass of the frame encoders: the posterior means
        (f (B, f_dim), z (B, T, z_dim)) and the negative ELBO with posterior samples. The same values
        as the two calls in that order, and the same random draws (the means draw nothing), so
        scoring reads each test frame through the convolutions once (``dsvae eval``)."""
        self._check_x(x)
        v = self._frame_features(x)
        u = self._z_features(x, v)
        f_post, z_post = self._posteriors(x, v, False, u)
        return Encoding(f_post.sample, z_post.sample, f_post, z_post), self._elbo(x, v, u)

    def _elbo(self, x: Tensor, v: Tensor, u: Tensor | None = None) -> DSVAEOutput:
        """The negative ELBO of x given its frame features v (those q(f) reads) and u (q(z)'s; made
        here when not given). q(f) runs before u is made, as it always did: the order in which autograd
        adds the two paths' gradients into v, and so training's float rounding, stays as it was."""
        B = x.shape[0]
        f_post, z_post = self._posteriors(x, v, True, u)
        z_prior = self.prior_z(z_post.sample)  # evaluated on the posterior samples z_<t
        logits = self._decode_logits(f_post.sample, z_post.sample)

        # every loss term in fp32, also under bf16 autocast
        logits, xf = logits.float(), x.float()
        if self.config.likelihood == "bernoulli":
            recon = F.binary_cross_entropy_with_logits(logits, xf, reduction="sum")
            x_hat = torch.sigmoid(logits)
        else:
            x_hat = self._frames_out(logits)
            recon = self.config.recon_scale * F.mse_loss(x_hat, xf, reduction="sum")
        recon = recon / B
        kl_f = f_post.float().kl_standard().sum() / B
        kl_z = z_post.float().kl(z_prior.float()).sum() / B
        return DSVAEOutput(recon + kl_f + kl_z, recon, kl_f, kl_z, x_hat, f_post, z_post, z_prior)

    # --- bookkeeping ------------------------------------------------------------------------------
    def for_scoring(self, channels_last: bool = False) -> DSVAE:
        """A copy of this model to score with (``dsvae eval``), in eval mode: in the convolutional
        frame encoders and decoder each BatchNorm folded into the (transposed) convolution before it
        and the activations in place (:func:`~dsvae.device.fold_for_inference`), in channels_last
        memory if asked. It encodes, decodes and samples as this model in eval mode up to float
        rounding; it cannot be trained, and :meth:`save` refuses it (its layers differ)."""
        import copy

        model = copy.deepcopy(self).eval()
        for module in model.modules():
            if isinstance(module, ConvFrameEncoder):
                module.convs = fold_for_inference(module.convs)
            elif isinstance(module, ConvFrameDecoder):
                module.deconvs = fold_for_inference(module.deconvs)
        model.scoring_copy = True
        return model.to(memory_format=torch.channels_last) if channels_last else model

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def save(self, directory: str | Path) -> Path:
        """A folder with config.json, model.safetensors and checksums.json (the sha256 of both, checked
        by :meth:`load`): the saved-network format (:mod:`dsvae.weights`); each file is replaced
        atomically and flushed to disk. Raises ``OSError`` naming the file that could not be
        written (a full or read-only disk), ValueError for a scoring copy (:meth:`for_scoring`)."""
        if getattr(self, "scoring_copy", False):
            raise ValueError(
                "this is a scoring copy of a model (DSVAE.for_scoring: BatchNorms folded), which "
                "cannot be saved as a DSVAE; save the model it was made from"
            )
        return save_network(directory, self, self.config.to_dict(), "config.json")

    @classmethod
    def load(cls, directory: str | Path, map_location: str | torch.device = "cpu") -> DSVAE:
        """A folder written by :meth:`save` -> the model. Raises FileNotFoundError for a missing file
        and :class:`~dsvae._io.DamagedFileError` (a ValueError) naming the file that differs from
        the sha256 recorded at save time, is unreadable (truncated, not JSON / safetensors) or does
        not fit its companion (a config.json whose sizes are not those of the weights)."""
        config_path = Path(directory) / "config.json"
        return load_network(
            directory,
            lambda doc: cls(DSVAEConfig.from_dict(doc, where=str(config_path))),
            "config.json",
            map_location,
            kind="a saved DSVAE folder",
            made_by="written by model.save",
            mismatch="the config was edited or the files come from two models: restore the config.json "
            "saved with these weights",
        )
