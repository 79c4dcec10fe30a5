"""The DSVAE family's terms beyond the ELBO (dsvae.objectives, the methods of dsvae.methods) on
oracles, the successors' encoder switches, and the loop training with them."""

import math

import numpy as np
import pytest
import torch

from conftest import tiny_train_config as tiny_tc
from dsvae.config import DSVAEConfig
from dsvae.methods import CDSVAE, DBSE, SPYL, Method, MethodError, legacy_method, method_terms
from dsvae.methods import DSVAE as DSVAEMethod
from dsvae.model import DSVAE, Posterior
from dsvae.objectives import (
    SPYL_BANK,
    content_augment,
    contrastive_with_negatives,
    farthest_by_kl,
    info_nce,
    motion_augment,
    mutual_information_fz,
)
from dsvae.train import train

# --- InfoNCE -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("tau", [0.5, 1.0])
def test_info_nce_of_identical_views_is_at_its_closed_form(tau):
    n = 32
    a = torch.eye(64)[:n] * 3.0  # orthogonal vectors; scale does not matter (cosine similarity)
    want = math.log(1 + (2 * n - 2) * math.exp(-1 / tau))  # partner cos 1, every other pair cos 0
    assert info_nce(a, a.clone(), tau).item() == pytest.approx(want, rel=1e-5)


def test_info_nce_of_independent_views_is_near_log_of_the_batch():
    torch.manual_seed(0)
    n = 64
    got = info_nce(torch.randn(n, 8192), torch.randn(n, 8192), 0.5).item()
    assert got == pytest.approx(math.log(2 * n - 1), abs=0.02)
    # and views that agree score lower than views that do not
    a = torch.randn(n, 16)
    assert info_nce(a, a + 0.1 * torch.randn(n, 16)).item() < got - 1.5


@pytest.mark.parametrize("tau", [0.5, 1.0])
def test_spyl_contrast_of_identical_positives_and_orthogonal_negatives_is_at_its_closed_form(tau):
    n, k = 8, 5
    basis = torch.eye(64) * 2.0
    anchor = basis[:n]
    negatives = torch.stack([basis[n + 5 * i : n + 5 * i + k] for i in range(n)])  # orthogonal to each anchor
    want = math.log(1 + k * math.exp(-1 / tau))
    got = contrastive_with_negatives(anchor, anchor.clone() * 3.0, negatives, tau).item()
    assert got == pytest.approx(want, rel=1e-5)


def test_spyl_contrast_of_unrelated_vectors_is_near_log_of_the_negatives_plus_one():
    torch.manual_seed(0)
    n, k, d = 32, 64, 8192
    got = contrastive_with_negatives(torch.randn(n, d), torch.randn(n, d), torch.randn(n, k, d), 0.5).item()
    assert got == pytest.approx(math.log(k + 1), abs=0.03)


def test_spyl_contrast_refuses_shapes_that_do_not_fit():
    with pytest.raises(ValueError, match="negatives must be"):
        contrastive_with_negatives(torch.randn(4, 3), torch.randn(4, 3), torch.randn(4, 3))
    with pytest.raises(ValueError, match="anchor and positive"):
        contrastive_with_negatives(torch.randn(4, 3), torch.randn(5, 3), torch.randn(4, 2, 3))


def test_spyl_negatives_are_the_farthest_bank_entries_by_kl():
    torch.manual_seed(0)
    from torch.distributions import Normal, kl_divergence

    n, m, d, k = 6, 40, 5, 7
    mean, logvar = torch.randn(n, d), torch.randn(n, d) * 0.5
    bank_mean, bank_logvar = torch.randn(m, d) * 2, torch.randn(m, d) * 0.5
    got = farthest_by_kl(mean, logvar, bank_mean, bank_logvar, k)
    assert got.shape == (n, k, d)
    for i in range(n):
        q = Normal(mean[i], (0.5 * logvar[i]).exp())
        kl = torch.stack(
            [kl_divergence(q, Normal(bank_mean[j], (0.5 * bank_logvar[j]).exp())).sum() for j in range(m)]
        )
        want = bank_mean[kl.argsort(descending=True)[:k]]
        assert torch.allclose(got[i], want)
    with pytest.raises(ValueError, match="k must be in 1..40"):
        farthest_by_kl(mean, logvar, bank_mean, bank_logvar, 41)


def test_info_nce_refuses_mismatched_views():
    with pytest.raises(ValueError, match="one shape"):
        info_nce(torch.zeros(4, 3), torch.zeros(5, 3))
    with pytest.raises(ValueError, match="at least 2"):
        info_nce(torch.ones(1, 3), torch.ones(1, 3))


# --- I(f; z) ------------------------------------------------------------------------------------------


def gaussian_posteriors(n: int, s: float, shared: bool, dims: int = 1, T: int = 3):
    """Posteriors q(f | x_j) = N(u_j, s^2), q(z_t | x_j) = N(u_j or w_j, s^2): with ``shared`` f and
    each z_t are jointly Gaussian with correlation 1 / (1 + s^2) per dimension, else independent."""
    u = torch.randn(n, dims)
    w = u if shared else torch.randn(n, dims)
    lv = math.log(s**2)
    f = Posterior(u, torch.full_like(u, lv), u + s * torch.randn_like(u))
    zm = w.unsqueeze(1).expand(n, T, dims).contiguous()
    z = Posterior(zm, torch.full_like(zm, lv), zm + s * torch.randn_like(zm))
    return f, z


@pytest.mark.parametrize("s", [0.5, 1.0])
def test_mutual_information_estimate_matches_correlated_gaussians(s):
    torch.manual_seed(0)
    f, z = gaussian_posteriors(3000, s, shared=True, dims=2)
    rho = 1 / (1 + s**2)
    want = -0.5 * math.log(1 - rho**2) * 2  # two independent dimensions
    assert mutual_information_fz(f, z).item() == pytest.approx(want, abs=0.04)


def test_mutual_information_estimate_of_independent_latents_is_near_zero():
    torch.manual_seed(1)
    f, z = gaussian_posteriors(3000, 0.5, shared=False, dims=2)
    assert abs(mutual_information_fz(f, z).item()) < 0.02


def test_mutual_information_needs_samples():
    f = Posterior(torch.zeros(4, 2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="samples"):
        mutual_information_fz(f, Posterior(torch.zeros(4, 3, 2), torch.zeros(4, 3, 2)))


# --- augmentations -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def characters(synthetic):
    """32 test sequences of the embedded data (video in [0, 1], a finite palette) and their labels."""
    ds = synthetic.subset("test")
    return ds.model_batch(np.arange(32), "cpu")


def test_content_augmentation_keeps_the_frames_and_breaks_their_order(characters):
    torch.manual_seed(0)
    x = characters
    y = content_augment(x)
    assert y.shape == x.shape
    B, T = x.shape[:2]
    for b in range(B):
        # the same frames (so the same character and attributes) ...
        mx = {tuple(fr.flatten().tolist()[::97]) for fr in x[b]}
        my = {tuple(fr.flatten().tolist()[::97]) for fr in y[b]}
        assert mx == my
        # ... in another order: a permutation that is never the identity
        match = [[torch.equal(y[b, t], x[b, u]) for u in range(T)] for t in range(T)]
        assert all(any(row) for row in match)
        assert not all(match[t][t] for t in range(T))


def test_motion_augmentation_keeps_the_motion_and_changes_the_colours(characters):
    torch.manual_seed(0)
    x = characters
    y = motion_augment(x)
    assert y.shape == x.shape and float(y.min()) >= 0 and float(y.max()) <= 1
    assert (y - x).abs().mean() > 0.1  # other colours
    for b in range(8):
        # one colour map for all frames of a sequence: pixels of one colour in x keep one colour in
        # y, so every silhouette and its motion over the frames are kept
        px = x[b].permute(0, 2, 3, 1).reshape(-1, 3)
        py = y[b].permute(0, 2, 3, 1).reshape(-1, 3)
        colours, index = torch.unique(px, dim=0, return_inverse=True)
        for c in range(len(colours)):
            assert torch.unique(py[index == c], dim=0).shape[0] == 1
        # and the colours differ between sequences: a map drawn per sequence
    assert not torch.allclose(y[0, 0, :, 0, 0] - x[0, 0, :, 0, 0], y[1, 0, :, 0, 0] - x[1, 0, :, 0, 0])


def test_motion_augmentation_of_vector_frames_keeps_their_course():
    torch.manual_seed(0)
    x = torch.randn(4, 20, 16)
    y = motion_augment(x)
    # an affine map per dimension, the same for every frame: the course over time is kept exactly
    for b in range(4):
        for d in range(16):
            corr = np.corrcoef(x[b, :, d].numpy(), y[b, :, d].numpy())[0, 1]
            assert corr == pytest.approx(1.0, abs=1e-5)
    assert (y - x).abs().mean() > 0.01


# --- gradients reach what each term should reach --------------------------------------------------


def reached(model: DSVAE, loss: torch.Tensor) -> set[str]:
    model.zero_grad()
    loss.backward()
    return {
        n.split(".")[0] for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0
    }


F_PATH = {"frame_encoder", "f_lstm", "f_head"}
Z_PATH = {"frame_encoder", "z_lstm", "z_rnn", "z_head"}


CDSVAE_OFF = dict(contrastive_f=0.0, contrastive_z=0.0, mi_fz=0.0)


@pytest.mark.parametrize(
    "obj, want",
    [
        (CDSVAE({**CDSVAE_OFF, "contrastive_f": 1.0}), F_PATH),
        (CDSVAE({**CDSVAE_OFF, "contrastive_z": 1.0}), Z_PATH),
        (CDSVAE({**CDSVAE_OFF, "mi_fz": 1.0}), F_PATH | Z_PATH),
        (DBSE({"first_frame_recon": 1.0}), F_PATH | Z_PATH | {"frame_decoder"}),
    ],
    ids=["nce_f", "nce_z", "mi_fz", "recon_x1"],
)
def test_each_term_reaches_its_latent_path_only(obj, want):
    torch.manual_seed(0)
    model = DSVAE(DSVAEConfig.preset("tiny", q_z="full-no-f"))
    x = torch.rand(6, 4, 3, 16, 16)
    out = model(x)
    terms = method_terms(obj, model, x, out)
    assert terms.shape == (1,) and torch.isfinite(terms).all()
    assert reached(model, terms.sum()) == want  # never the prior, never the decoder (but recon_x1)


def test_spyls_terms_reach_what_their_views_pass_through():
    """sp_f: the anchor's f path and the decoder that makes its positive view (f decoded with a motion
    drawn from the prior); sp_z: the z path and the decoder (z decoded with an f drawn from N(0, I)).
    Neither reaches the other latent's path nor the prior (its draws carry no gradient, as the
    bank's)."""
    x = torch.rand(6, 4, 3, 16, 16)
    obj = SPYL({"sample_predict": 1.0, "mi_fz": 0.0})
    for i, want in enumerate([F_PATH | {"frame_decoder"}, Z_PATH | {"frame_decoder"}]):
        torch.manual_seed(0)
        model = DSVAE(DSVAEConfig.preset("tiny", q_z="full-no-f"))
        terms = method_terms(obj, model, x, model(x))
        assert terms.shape == (2,) and torch.isfinite(terms).all()
        assert reached(model, terms[i]) == want


def test_spyl_contrast_grows_with_nearer_negatives():
    """The share of the bank taken as negatives: all of it (the nearer ones too) makes each contrast
    harder than its farthest tenth alone. The bank is SPYL_BANK (the public code's 4) per sequence."""
    assert SPYL_BANK == 4
    torch.manual_seed(0)
    model = DSVAE(DSVAEConfig.preset("tiny", q_z="full-no-f")).eval()
    x = torch.rand(5, 4, 3, 16, 16)
    with torch.no_grad():
        spyl = {"sample_predict": 1.0, "mi_fz": 0.0}
        a = method_terms(SPYL({**spyl, "sample_predict_negatives": 0.1}), model, x, model(x))
        b = method_terms(SPYL({**spyl, "sample_predict_negatives": 1.0}), model, x, model(x))
    # more (and nearer) negatives make the contrast harder: its loss grows
    assert (b > a).all()


def test_dsvae_objective_has_no_extra_terms():
    model = DSVAE(DSVAEConfig.preset("tiny"))
    x = torch.rand(4, 4, 3, 16, 16)
    assert method_terms(DSVAEMethod(), model, x, model(x)).numel() == 0
    assert DSVAEMethod().term_names() == ()
    assert CDSVAE({**CDSVAE_OFF, "contrastive_z": 2.0}).term_names() == ("nce_z",)
    assert SPYL().term_names() == ("mi_fz", "sp_f", "sp_z")  # the order the loop adds them in


def test_bad_weights_are_refused():
    with pytest.raises(ValueError, match="contrastive_f must be >= 0"):
        CDSVAE({"contrastive_f": -1.0})
    with pytest.raises(ValueError, match="contrastive_tau must be > 0"):
        CDSVAE({"contrastive_tau": 0.0})
    with pytest.raises(ValueError, match=r"sample_predict_negatives must be in \(0, 1\]"):
        SPYL({"sample_predict_negatives": 0.0})
    with pytest.raises(ValueError, match="sample_predict must be >= 0"):
        SPYL({"sample_predict": -1.0})
    with pytest.raises(MethodError, match="unknown SPYL option 'negatives'.*sample_predict_negatives"):
        SPYL({"negatives": 0.5})


def test_flat_options_of_earlier_runs_read_as_their_method():
    """Runs and recipes written before methods had names set the terms as flat options."""
    zero = dict(
        contrastive_f=0.0, contrastive_z=0.0, mi_fz=0.0, contrastive_tau=0.5, first_frame_recon=0.0,
        sample_predict=0.0, sample_predict_negatives=0.5,
    )  # fmt: skip
    assert legacy_method(zero) == ("dsvae", {})
    cdsvae = {**zero, "contrastive_f": 10.0, "contrastive_z": 10.0, "mi_fz": 1.0}
    assert legacy_method(cdsvae) == ("cdsvae", {k: cdsvae[k] for k in CDSVAE_OFF} | {"contrastive_tau": 0.5})
    assert legacy_method({**zero, "first_frame_recon": 1.0}) == ("dbse", {"first_frame_recon": 1.0})
    spyl = legacy_method({**zero, "sample_predict": 0.1, "mi_fz": 0.1})
    assert spyl[0] == "spyl" and spyl[1]["mi_fz"] == 0.1 and spyl[1]["sample_predict"] == 0.1
    with pytest.raises(MethodError, match="mix the terms"):
        legacy_method({**cdsvae, "first_frame_recon": 1.0})


# --- the successors' encoders ---------------------------------------------------------------------


def test_first_frame_q_f_reads_the_first_frame_only():
    torch.manual_seed(0)
    model = DSVAE(DSVAEConfig.preset("tiny", q_f="first-frame")).eval()
    x = torch.rand(3, 4, 3, 16, 16)
    y = x.clone()
    y[:, 1:] = torch.rand_like(y[:, 1:])
    assert torch.allclose(model.encode(x).f, model.encode(y).f)
    y[:, 0] = torch.rand_like(y[:, 0])
    assert not torch.allclose(model.encode(x).f, model.encode(y).f)
    assert not hasattr(model, "f_lstm")


def test_minus_first_z_sees_no_content_of_a_still_sequence():
    # q(z) reads v_t - v_1 without f: every still sequence (T copies of one frame) has z features 0,
    # so two different characters standing still get one and the same z
    torch.manual_seed(0)
    cfg = DSVAEConfig.preset("tiny", q_f="first-frame", z_input="minus-first", q_z="full-no-f")
    model = DSVAE(cfg).eval()
    a = torch.rand(1, 1, 3, 16, 16).expand(2, 4, 3, 16, 16).contiguous()
    b = torch.rand(1, 1, 3, 16, 16).expand(2, 4, 3, 16, 16).contiguous()
    assert torch.allclose(model.encode(a).z, model.encode(b).z, atol=1e-6)
    assert not torch.allclose(model.encode(a).f, model.encode(b).f)
    # with the paper's encoder the content reaches z
    paper = DSVAE(DSVAEConfig.preset("tiny")).eval()
    assert not torch.allclose(paper.encode(a).z, paper.encode(b).z, atol=1e-4)


def test_full_no_f_q_z_does_not_read_f():
    torch.manual_seed(0)
    model = DSVAE(DSVAEConfig.preset("tiny", q_z="full-no-f"))
    x = torch.rand(4, 4, 3, 16, 16)
    enc = model.encode(x)
    assert model.z_lstm.input_size == model.config.feature_dim
    assert reached(model, enc.z.sum()) == {"frame_encoder", "z_lstm", "z_rnn", "z_head"}


def test_frame_context_lets_the_first_frame_read_the_sequence():
    # DBSE's speech encoder: with frame_context "sequence" f read from the first element depends on
    # every frame (a BiLSTM runs over the frame features); with "frame" on the first frame alone
    torch.manual_seed(0)
    x = torch.randn(3, 6, 10)
    later = x.clone()
    later[:, -1] += 1.0  # only the last frame changes
    for context, moves in (("frame", False), ("sequence", True)):
        cfg = DSVAEConfig.preset(
            "tiny", frame_dim=10, channels=1, q_f="first-frame", frame_context=context, T=6
        )
        model = DSVAE(cfg).eval()
        assert (not torch.allclose(model.encode(x).f, model.encode(later).f, atol=1e-6)) == moves
    # the first frame's posterior trains the context layers and the per-frame encoder, not q(z)
    model = DSVAE(cfg).train()
    enc = model.encode(x, sample=True)
    assert reached(model, enc.f_post.mean.sum()) == {
        "frame_encoder",
        "context_lstm",
        "context_fc",
        "f_static",
        "f_head",
    }
    # and z's features v_t - v_1 carry them too
    cfg = cfg.replace(z_input="minus-first", q_z="full-no-f")
    model = DSVAE(cfg).train()
    assert {"context_lstm", "context_fc"} <= reached(model, model.encode(x).z.sum())


@pytest.mark.parametrize("q_z", ["full", "full-no-f", "factorized"])
def test_encode_f_and_encode_z_are_the_whole_encodes_halves(q_z):
    # the views of the contrastive terms run one posterior each: the same numbers and the same
    # BatchNorm statistics as a whole encode, so training is unchanged by it
    torch.manual_seed(0)
    model = DSVAE(DSVAEConfig.preset("tiny", q_z=q_z)).train()
    x = torch.rand(3, 4, 3, 16, 16)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(1)
    whole = model.encode(x)
    after_whole = {k: v.clone() for k, v in model.state_dict().items()}
    for half, want in (("encode_f", "f_post"), ("encode_z", "z_post")):
        model.load_state_dict(state)
        torch.manual_seed(1)
        got = getattr(model, half)(x)
        assert all(torch.equal(a, b) for a, b in zip(got, getattr(whole, want)) if a is not None)
        assert all(torch.equal(v, after_whole[k]) for k, v in model.state_dict().items())
    # and q(f) alone never touches q(z)'s layers
    model.zero_grad()
    model.encode_f(x).mean.sum().backward()
    assert all(p.grad is None for n, p in model.named_parameters() if n.startswith(("z_", "prior_")))


def test_frame_context_needs_the_shared_view():
    with pytest.raises(ValueError, match="frame_context 'sequence'.*z_view 'shared'"):
        DSVAEConfig.preset("tiny", frame_context="sequence", z_view="silhouette")


@pytest.mark.parametrize(
    "field, value", [("q_f", "last"), ("z_input", "diff"), ("q_z", "f-free"), ("frame_context", "window")]
)
def test_unknown_switch_values_are_refused(field, value):
    with pytest.raises(ValueError, match=f"{field} must be one of"):
        DSVAEConfig.preset("tiny", **{field: value})


# --- the loop ----------------------------------------------------------------------------------------------


class Family(Method):
    """The terms of C-DSVAE, SPYL and DBSE at once, in that order: a composite written as a user
    writes a method (found by the loop as ``test_objectives:Family``)."""

    name = "family"
    title = "C-DSVAE + SPYL + DBSE"

    def __init__(self, options=None) -> None:
        super().__init__(options)
        cdsvae = CDSVAE({"contrastive_f": 10.0, "contrastive_z": 10.0, "mi_fz": 1.0})
        self.parts = (cdsvae, SPYL({"sample_predict": 0.1, "mi_fz": 0.0}), DBSE({"first_frame_recon": 1.0}))

    def weights(self):
        return {k: w for part in self.parts for k, w in part.weights().items()}

    def terms(self, model, x, out):
        return {k: t for part in self.parts for k, t in part.terms(model, x, out).items()}


def test_the_loop_trains_the_successors_logs_their_terms_and_resumes_bit_exactly(tiny_dataset_dir, tmp_path):
    from safetensors.torch import load_file

    from dsvae.run import load_model

    family = dict(method="test_objectives:Family")  # every built-in's terms at once: a method of one's own
    tc = tiny_tc(tiny_dataset_dir, epochs=2, model_overrides={"q_z": "full-no-f"}, **family)
    res = train(tc, tmp_path / "whole")
    assert {"nce_f", "nce_z", "mi_fz", "sp_f", "sp_z", "recon_x1"} <= set(res.train)
    rows = (tmp_path / "whole" / "objective.csv").read_text().splitlines()
    assert rows[0] == "epoch,split,nce_f,nce_z,mi_fz,sp_f,sp_z,recon_x1" and len(rows) == 3
    assert load_model(tmp_path / "whole").config.q_z == "full-no-f"
    # stopped after 4 steps (the augmentations draw from the checkpointed RNG) and resumed
    part = tiny_tc(tiny_dataset_dir, epochs=2, max_steps=4, model_overrides={"q_z": "full-no-f"}, **family)
    train(part, tmp_path / "part")
    train(tc, tmp_path / "part", resume=True)
    a = load_file(str(tmp_path / "whole" / "model" / "model.safetensors"))
    b = load_file(str(tmp_path / "part" / "model" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    # (a resumed epoch's train row averages the steps it ran; the next epoch's is the same)
    last = [(tmp_path / r / "objective.csv").read_text().splitlines()[-1] for r in ("whole", "part")]
    assert last[0] == last[1]


@pytest.mark.parametrize("context", ["frame", "sequence"])
def test_a_dbse_model_trains_and_reloads(tiny_dataset_dir, tmp_path, context):
    from dsvae.run import load_model

    over = {"q_f": "first-frame", "z_input": "minus-first", "q_z": "full-no-f", "recon_scale": 5.0}
    over["frame_context"] = context
    train(tiny_tc(tiny_dataset_dir, epochs=1, model_overrides=over, method="dbse"), tmp_path / "dbse")
    model = load_model(tmp_path / "dbse")
    cfg = model.config
    assert (cfg.q_f, cfg.z_input, cfg.q_z, cfg.frame_context) == (
        "first-frame",
        "minus-first",
        "full-no-f",
        context,
    )
    assert hasattr(model, "context_lstm") == (context == "sequence")
