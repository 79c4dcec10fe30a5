import math

import pytest
import torch

from dsvae import DSVAE, DSVAEConfig
from dsvae.model import kl_diag_gaussians


def tiny(**kw) -> DSVAEConfig:
    return DSVAEConfig.preset("tiny", **kw)


def batch(cfg: DSVAEConfig, B: int = 3, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand((B, cfg.T) + cfg.frame_shape, generator=g)


@pytest.mark.parametrize("q_z", ["factorized", "full"])
@pytest.mark.parametrize("frame_size,channels", [(16, 3), (32, 1)])
def test_output_shapes(q_z, frame_size, channels):
    cfg = tiny(q_z=q_z, frame_size=frame_size, channels=channels)
    model = DSVAE(cfg)
    x = batch(cfg)
    out = model(x)
    B, T = x.shape[:2]
    assert out.x_hat.shape == x.shape
    assert 0 <= out.x_hat.min() and out.x_hat.max() <= 1
    for t in (out.loss, out.recon, out.kl_f, out.kl_z):
        assert t.dim() == 0 and torch.isfinite(t)
    assert torch.allclose(out.loss, out.recon + out.kl_f + out.kl_z)
    assert out.f_post.mean.shape == out.f_post.logvar.shape == out.f_post.sample.shape == (B, cfg.f_dim)
    assert out.z_post.mean.shape == out.z_post.sample.shape == (B, T, cfg.z_dim)
    assert out.z_prior.mean.shape == out.z_prior.logvar.shape == (B, T, cfg.z_dim)
    enc = model.encode(x)
    assert enc.f.shape == (B, cfg.f_dim) and enc.z.shape == (B, T, cfg.z_dim)
    assert torch.equal(enc.f, enc.f_post.mean)  # means unless sampling is asked for
    assert not torch.equal(model.encode(x, sample=True).f, enc.f)
    assert model.decode(enc.f, enc.z).shape == x.shape
    assert model.sample_prior_z(5, T=6).shape == (5, 6, cfg.z_dim)
    assert model.generate(batch_size=2).shape == (2, cfg.T) + cfg.frame_shape
    assert model.generate(f=enc.f).shape == x.shape
    assert model.generate(z=enc.z).shape == x.shape


@pytest.mark.parametrize("frame_size", [32, 64, 128])
def test_paper_architecture_scales_with_frame_size(frame_size):
    # the paper's layer pattern (stride 1 then three stride-2 convs, kernel 5) at other sizes
    cfg = DSVAEConfig.preset(
        "paper",
        frame_size=frame_size,
        conv_channels=(4, 4, 4, 4),
        fc_dim=16,
        feature_dim=8,
        hidden_dim=8,
        f_dim=4,
        z_dim=2,
        factorized_hidden=8,
    )
    x = batch(cfg, B=2)
    assert DSVAE(cfg)(x).x_hat.shape == x.shape


def test_vector_frames():
    cfg = DSVAEConfig.preset("speech", frame_dim=12, T=5, mlp_hidden=(16,), feature_dim=16, hidden_dim=8)
    model = DSVAE(cfg)
    x = torch.randn(4, 5, 12)
    out = model(x)
    assert out.x_hat.shape == x.shape and torch.isfinite(out.loss)


def test_paper_preset_size():
    cfg = DSVAEConfig.preset("paper")
    assert (cfg.f_dim, cfg.z_dim, cfg.hidden_dim, cfg.T, cfg.feature_dim) == (256, 32, 512, 8, 2048)
    n = DSVAE(cfg).num_parameters()
    assert 170e6 < n < 185e6, n  # SPEC.md: about 178 M


def test_closed_form_kl_matches_monte_carlo():
    g = torch.Generator().manual_seed(0)
    mq, mp = torch.randn(6, generator=g), torch.randn(6, generator=g)
    lq, lp = torch.randn(6, generator=g) * 0.5, torch.randn(6, generator=g) * 0.5
    n = 400_000
    s = mq + torch.exp(0.5 * lq) * torch.randn(n, 6, generator=g)

    def log_normal(x, m, lv):
        return -0.5 * (math.log(2 * math.pi) + lv + (x - m) ** 2 / lv.exp())

    mc = (log_normal(s, mq, lq) - log_normal(s, mp, lp)).mean(0)
    assert torch.allclose(kl_diag_gaussians(mq, lq, mp, lp), mc, atol=0.02)


def test_elbo_kl_terms_match_monte_carlo():
    """kl_f against N(0, I) and kl_z against the teacher-forced prior, estimated by sampling."""
    torch.manual_seed(0)
    model = DSVAE(tiny())
    x = batch(model.config, B=2)
    out = model(x)
    fm, flv = out.f_post.mean, out.f_post.logvar
    n = 200_000
    f = fm + torch.exp(0.5 * flv) * torch.randn(n, *fm.shape)
    log_q = -0.5 * (flv + (f - fm) ** 2 / flv.exp()).sum(-1)
    log_p = -0.5 * (f**2).sum(-1)
    assert torch.allclose((log_q - log_p).mean(0).mean(), out.kl_f, rtol=0.02, atol=0.02)
    zm, zlv = out.z_post.mean, out.z_post.logvar
    z = zm + torch.exp(0.5 * zlv) * torch.randn(n, *zm.shape)
    pm, plv = out.z_prior.mean, out.z_prior.logvar
    log_q = -0.5 * (zlv + (z - zm) ** 2 / zlv.exp())
    log_p = -0.5 * (plv + (z - pm) ** 2 / plv.exp())
    mc = (log_q - log_p).sum((-1, -2)).mean(0).mean()
    assert torch.allclose(mc, out.kl_z, rtol=0.02, atol=0.02)


def test_prior_is_conditioned_on_posterior_samples():
    torch.manual_seed(0)
    model = DSVAE(tiny(T=5))
    model.eval()
    x = batch(model.config, B=2)
    out = model(x)
    # the prior inside the ELBO is p(z_t | z_<t) on the posterior samples
    again = model.prior_z(out.z_post.sample)
    assert torch.allclose(again.mean, out.z_prior.mean) and torch.allclose(again.logvar, out.z_prior.logvar)
    z = out.z_post.sample.detach().clone()
    changed = z.clone()
    changed[:, 2] += 1.0
    p0, p1 = model.prior_z(z), model.prior_z(changed)
    # t <= 2 (0-based) sees only z_<t, which did not change; t = 3 and later see the change
    assert torch.allclose(p0.mean[:, :3], p1.mean[:, :3])
    assert not torch.allclose(p0.mean[:, 3], p1.mean[:, 3])
    # p(z_1) depends on nothing: the same for any z
    assert torch.allclose(model.prior_z(torch.randn_like(z)).mean[:, 0], p0.mean[:, 0])
    # so kl_z is the KL to that conditioned prior, not to a free roll-out
    kl = kl_diag_gaussians(out.z_post.mean, out.z_post.logvar, out.z_prior.mean, out.z_prior.logvar)
    assert torch.allclose(kl.sum() / 2, out.kl_z)


def test_generation_rolls_the_prior_out():
    torch.manual_seed(0)
    model = DSVAE(tiny(T=6))
    model.eval()
    z = model.sample_prior_z(3, sample=False)  # means: each step the prior mean given the earlier ones
    assert torch.allclose(model.prior_z(z).mean, z, atol=1e-6)
    torch.manual_seed(1)
    a = model.sample_prior_z(3)
    torch.manual_seed(2)
    b = model.sample_prior_z(3)
    assert not torch.allclose(a, b)


@pytest.mark.parametrize("q_z", ["factorized", "full"])
def test_gradients_reach_every_part(q_z):
    torch.manual_seed(0)
    model = DSVAE(tiny(q_z=q_z))
    model(batch(model.config)).loss.backward()
    parts = ["frame_encoder", "frame_decoder", "f_lstm", "f_head", "z_head", "prior_lstm", "prior_head"]
    parts += ["z_mlp"] if q_z == "factorized" else ["z_lstm", "z_rnn"]
    for name, p in model.named_parameters():
        assert p.grad is not None, name
    for part in parts:
        grads = [p.grad.abs().sum() for n, p in model.named_parameters() if n.startswith(part + ".")]
        assert grads and sum(grads) > 0, part


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    model = DSVAE(tiny(q_z="factorized", likelihood="bernoulli"))
    model(batch(model.config))  # moves the BatchNorm running statistics
    model.eval()
    model.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "checksums.json",
        "config.json",
        "model.safetensors",
    ]
    loaded = DSVAE.load(tmp_path / "m")
    loaded.eval()
    assert loaded.config == model.config
    x = batch(model.config, seed=1)
    a, b = model.encode(x), loaded.encode(x)
    assert torch.equal(a.f, b.f) and torch.equal(a.z, b.z)
    assert torch.equal(model.decode(a.f, a.z), loaded.decode(b.f, b.z))


def test_load_missing_folder_is_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        DSVAE.load(tmp_path)


@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli"])
def test_tiny_model_overfits_one_batch(likelihood):
    torch.manual_seed(0)
    cfg = tiny(likelihood=likelihood)
    model = DSVAE(cfg)
    # structured frames: a bright square moving over a coloured background
    x = torch.zeros(4, cfg.T, 3, 16, 16)
    for b in range(4):
        x[b, :, b % 3] = 0.3 + 0.1 * b
        for t in range(cfg.T):
            x[b, t, :, 4 + t : 8 + t, 2 + 2 * b : 6 + 2 * b] = 1.0
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = model(x).recon.item()
    for _ in range(250):
        out = model(x)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    # the Bernoulli likelihood has an entropy floor; the Gaussian one falls further
    factor = 10 if likelihood == "gaussian" else 2
    assert out.recon.item() < first / factor, (first, out.recon.item())


@pytest.mark.parametrize(
    "shape,match",
    [
        ((2, 4, 3, 16), "must be"),  # wrong rank
        ((2, 4, 1, 16, 16), "channels"),  # wrong channel count
        ((2, 4, 3, 16, 8), "frames must be"),  # wrong frame shape
        ((2, 5, 3, 16, 16), "T = 4"),  # wrong T
    ],
)
def test_bad_input_shapes(shape, match):
    model = DSVAE(tiny())
    with pytest.raises(ValueError, match=match):
        model(torch.rand(shape))
    with pytest.raises(ValueError, match=match):
        model.encode(torch.rand(shape))


def test_bad_input_dtype_and_latents():
    model = DSVAE(tiny())
    with pytest.raises(ValueError, match="floating point"):
        model(torch.zeros(2, 4, 3, 16, 16, dtype=torch.uint8))
    with pytest.raises(ValueError, match="f must be"):
        model.decode(torch.zeros(2, 3), torch.zeros(2, 4, 4))
    with pytest.raises(ValueError, match="z must be"):
        model.decode(torch.zeros(2, 8), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="same batch"):
        model.decode(torch.zeros(2, 8), torch.zeros(3, 4, 4))


def test_bad_config_is_clear():
    with pytest.raises(ValueError, match="q_z"):
        tiny(q_z="diagonal")
    with pytest.raises(ValueError, match="multiple of"):
        tiny(frame_size=18)
    with pytest.raises(ValueError, match="unknown preset"):
        DSVAEConfig.preset("huge")
    with pytest.raises(ValueError, match="gaussian"):
        DSVAE(DSVAEConfig.preset("speech", likelihood="bernoulli"))


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"z_view": "silhouette-change"},
        {"q_f": "first-frame", "z_input": "minus-first", "q_z": "full-no-f"},
    ],
)
def test_encode_and_elbo_is_encode_then_forward(overrides):
    """One frame-encoder pass gives the posterior means of encode(x) and, with the same draws, the
    negative ELBO of forward(x) (what `dsvae eval` reads in its first pass)."""
    torch.manual_seed(0)
    model = DSVAE(DSVAEConfig.preset("tiny", **overrides)).eval()
    x = torch.rand(3, model.config.T, *model.config.frame_shape)
    with torch.no_grad():
        torch.manual_seed(7)
        enc, out = model.encode_and_elbo(x)
        torch.manual_seed(7)
        enc2, out2 = model.encode(x), model(x)
    assert torch.equal(enc.f, enc2.f) and torch.equal(enc.z, enc2.z)
    for k in ("loss", "recon", "kl_f", "kl_z", "x_hat"):
        assert torch.equal(getattr(out, k), getattr(out2, k)), k
    assert torch.equal(out.z_post.sample, out2.z_post.sample)


@pytest.mark.parametrize(
    "scale, says",
    [
        (255.0, "divide by 255"),  # float frames in 0-255
        (-1.0, r"\(x \+ 1\) / 2"),  # frames in [-1, 1]
        (1000.0, "scale the frames to"),
    ],
)
def test_frames_outside_0_1_are_refused_where_they_enter(scale, says):
    model = DSVAE(tiny()).eval()
    x = batch(model.config)
    x = x * scale if scale > 0 else x * 2 - 1
    for enter in (model, model.encode, model.encode_f, model.encode_z, model.encode_and_elbo):
        with pytest.raises(ValueError, match=f"video frames must be in \\[0, 1\\].*{says}"):
            enter(x)
    with torch.no_grad():
        model(x.clamp(0, 1))  # the same frames in range are taken


def test_nan_frames_are_refused_and_vector_frames_must_be_finite():
    model = DSVAE(tiny())
    x = batch(model.config)
    x[0, 0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        model(x)
    speech = DSVAE(DSVAEConfig.preset("speech", T=4, hidden_dim=16, feature_dim=16, f_dim=4, z_dim=2))
    v = torch.randn(2, 4, 64) * 50  # normalised features may be any finite number
    speech(v)
    v[1, 2, 3] = float("inf")
    with pytest.raises(ValueError, match="vector frames must be finite"):
        speech.encode(v)
