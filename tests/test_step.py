"""One training step: the one `dsvae train` runs, `dsvae bench` times and the judge's loop shares."""

import pytest
import torch

from dsvae.bench import PathSettings, train_steps
from dsvae.config import DSVAEConfig
from dsvae.methods import make_method
from dsvae.model import DSVAE
from dsvae.options import TrainConfig
from dsvae.step import TrainingStep, adam, kl_weight, optimizer_step, terms_weight


def test_kl_weight_warms_up_linearly():
    assert [kl_weight(s, 4) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert kl_weight(0, 0) == 1.0


def test_a_step_minimises_the_weighted_objective_and_returns_its_terms():
    cfg = DSVAEConfig.preset("tiny")
    x = torch.rand(4, cfg.T, cfg.channels, cfg.frame_size, cfg.frame_size)
    torch.manual_seed(0)
    model = DSVAE(cfg)
    ref = DSVAE(cfg)
    ref.load_state_dict(model.state_dict())
    method = make_method("dsvae", {})
    step = TrainingStep(model, model, adam(model.parameters(), 1e-3), method, grad_clip=0.5)
    torch.manual_seed(1)
    terms = step(x, 0.5, 1e-3)
    assert step.term_names() == ("loss", "recon", "kl_f", "kl_z") and terms.shape == (4,)
    # the same step written out: recon + 0.5 KL, clipped to norm 0.5, Adam at lr 1e-3
    opt = adam(ref.parameters(), 1.0)
    torch.manual_seed(1)
    out = ref(x)
    optimizer_step(opt, out.recon + 0.5 * (out.kl_f + out.kl_z), ref.parameters(), 0.5, lr=1e-3)
    assert opt.param_groups[0]["lr"] == 1e-3
    assert torch.equal(terms, torch.stack([out.loss, out.recon, out.kl_f, out.kl_z]).detach())
    for a, b in zip(model.parameters(), ref.parameters()):
        assert torch.equal(a, b)


def test_optimizer_step_clips_the_global_norm():
    w = torch.nn.Parameter(torch.zeros(3))
    opt = torch.optim.SGD([w], lr=1.0)
    optimizer_step(opt, (w * torch.tensor([30.0, 40.0, 0.0])).sum(), [w], grad_clip=1.0)
    assert torch.allclose(w.detach(), -torch.tensor([0.6, 0.8, 0.0]))


@pytest.mark.parametrize("fused", [True, False, None])
def test_the_three_adam_kernels_agree(fused):
    w = torch.nn.Parameter(torch.ones(4))
    opt = adam([w], 0.1, fused=fused)
    optimizer_step(opt, w.pow(2).sum())
    assert torch.allclose(w.detach(), torch.full((4,), 0.9))


def test_bench_times_the_training_step_with_the_method_terms(monkeypatch):
    """`dsvae bench` runs TrainingStep with the run's options: the method's terms are computed."""
    from dsvae import step as step_module

    seen = []
    real = step_module.TrainingStep.__call__

    def spy(self, x, kl, lr):
        out = real(self, x, kl, lr)
        seen.append((self.method.name, self.grad_clip, kl, lr, tuple(self.term_names()), out.shape))
        return out

    monkeypatch.setattr(step_module.TrainingStep, "__call__", spy)
    options = TrainConfig(
        method="cdsvae", method_options={"contrastive_f": 1.0}, grad_clip=2.0, kl_warmup_steps=2, lr=1e-3
    )
    plain = PathSettings("plain", "fp32", channels_last=False, fused_adam=False)
    cfg = DSVAEConfig.preset("tiny")
    result = train_steps(cfg, plain, torch.device("cpu"), 4, steps=1, warmup=1, options=options)
    assert result.seq_per_s > 0
    assert [s[:4] for s in seen] == [("cdsvae", 2.0, 0.5, 1e-3), ("cdsvae", 2.0, 1.0, 1e-3)]
    names = seen[0][4]
    assert names[:4] == ("loss", "recon", "kl_f", "kl_z") and len(names) > 4
    assert seen[0][5] == (len(names),)


# --- the ELBO's term weights and the method's delayed start (a run's options) -------------------------


def _grads_after_a_step(options: TrainConfig, x: torch.Tensor, terms: float = 1.0) -> dict:
    """The gradients one TrainingStep of ``options`` leaves (learning rate 0: the weights stay)."""
    torch.manual_seed(0)
    model = DSVAE(DSVAEConfig.preset("tiny", q_z="full-no-f"))
    opt = adam(model.parameters(), lr=0.0)
    step = TrainingStep.of(model, model, opt, options, torch.device("cpu"), "fp32")
    torch.manual_seed(1)
    step(x, 1.0, 0.0, terms)
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_a_weight_of_zero_removes_its_terms_gradient():
    x = torch.rand(4, 4, 3, 16, 16)
    kl_f_off = _grads_after_a_step(TrainConfig(kl_f_weight=0.0), x)
    torch.manual_seed(0)
    model = DSVAE(DSVAEConfig.preset("tiny", q_z="full-no-f"))
    torch.manual_seed(1)
    out = model(x)
    (out.recon + out.kl_z).backward()  # the same draws: the objective without KL(f)
    for n, p in model.named_parameters():
        assert torch.allclose(kl_f_off[n], p.grad, rtol=1e-5, atol=1e-7), n
    # q(f)'s head gets no gradient from the KL with weight 0 and the reconstruction alone, but does
    # from KL(f) when it is weighted: the weight reaches the term's path
    halved = _grads_after_a_step(TrainConfig(kl_f_weight=0.5), x)
    assert not torch.allclose(halved["f_head.mean.weight"], kl_f_off["f_head.mean.weight"])
    # recon weight 2 with KL weights 2: twice the ELBO's gradients
    doubled = _grads_after_a_step(TrainConfig(recon_weight=2.0, kl_f_weight=2.0, kl_z_weight=2.0), x)
    plain = _grads_after_a_step(TrainConfig(), x)
    for n in plain:
        assert torch.allclose(doubled[n], 2 * plain[n], rtol=1e-4, atol=1e-6), n


def test_a_methods_terms_start_late_and_warm_up():
    assert [terms_weight(s, start=3, warmup_steps=4) for s in range(9)] == [0, 0, 0, 0.25, 0.5, 0.75, 1, 1, 1]
    assert terms_weight(0) == 1.0 and terms_weight(5, start=5) == 1.0
    x = torch.rand(4, 4, 3, 16, 16)
    options = TrainConfig(
        method="cdsvae", method_options={"contrastive_f": 1.0, "contrastive_z": 0.0, "mi_fz": 0.0}
    )
    off = _grads_after_a_step(options, x, terms=0.0)
    plain = _grads_after_a_step(TrainConfig(), x)
    for n in plain:  # before their start the terms add nothing (and are not computed)
        assert torch.allclose(off[n], plain[n], rtol=1e-5, atol=1e-7), n
    on = _grads_after_a_step(options, x)
    assert not torch.allclose(on["f_head.mean.weight"], plain["f_head.mean.weight"])


def test_the_weights_are_options_of_a_run_with_their_ranges():
    with pytest.raises(ValueError, match="kl_f_weight must be >= 0"):
        TrainConfig(kl_f_weight=-1.0)
    with pytest.raises(ValueError, match="recon_weight must be > 0"):
        TrainConfig(recon_weight=0.0)
    tc = TrainConfig(recon_weight=10.0, kl_f_weight=5.0, terms_start_step=50)
    assert TrainConfig.from_dict(tc.to_dict()) == tc


def test_delayed_terms_hold_off_only_the_terms_they_name():
    x = torch.rand(4, 4, 3, 16, 16)
    both = {"contrastive_f": 1.0, "contrastive_z": 0.0, "mi_fz": 1.0}
    delayed = TrainConfig(method="cdsvae", method_options=both, delayed_terms=("nce_f",))
    mi_only = TrainConfig(method="cdsvae", method_options={**both, "contrastive_f": 0.0})
    held = _grads_after_a_step(delayed, x, terms=0.0)
    expected = _grads_after_a_step(mi_only, x)
    for n in expected:  # before the start: I(f; z) acts at full weight, the contrast not at all
        assert torch.allclose(held[n], expected[n], rtol=1e-5, atol=1e-7), n
    started = _grads_after_a_step(delayed, x)  # after it: both
    assert not torch.allclose(started["f_head.mean.weight"], expected["f_head.mean.weight"])
    # half-way through a warm-up the named term has half its weight, the other its whole
    half = _grads_after_a_step(delayed, x, terms=0.5)
    halved = _grads_after_a_step(
        TrainConfig(method="cdsvae", method_options={**both, "contrastive_f": 0.5}), x
    )
    for n in halved:
        assert torch.allclose(half[n], halved[n], rtol=1e-5, atol=1e-7), n
    # naming none holds off every term, as before delayed_terms existed
    none_named = _grads_after_a_step(TrainConfig(method="cdsvae", method_options=both), x, terms=0.0)
    plain = _grads_after_a_step(TrainConfig(), x)
    for n in plain:
        assert torch.allclose(none_named[n], plain[n], rtol=1e-5, atol=1e-7), n


def test_delayed_terms_must_be_terms_the_method_computes():
    with pytest.raises(ValueError, match=r"names 'sp_f'.*its terms: nce_f, nce_z, mi_fz"):
        TrainConfig(method="cdsvae", delayed_terms=("sp_f",))
    with pytest.raises(ValueError, match=r"names 'nce_z'.*a term of weight 0 is off"):
        TrainConfig(method="cdsvae", method_options={"contrastive_z": 0.0}, delayed_terms=("nce_z",))
    with pytest.raises(ValueError, match="delayed_terms"):
        TrainConfig(method="cdsvae", delayed_terms=(3,))
    one = TrainConfig(method="spyl", delayed_terms=TrainConfig.parse("delayed_terms", "sp_f"))
    two = TrainConfig(method="spyl", delayed_terms=TrainConfig.parse("delayed_terms", "sp_f,sp_z"))
    assert one.delayed_terms == ("sp_f",) and two.delayed_terms == ("sp_f", "sp_z")
    assert TrainConfig.from_dict(two.to_dict()) == two and two.to_dict()["delayed_terms"] == ["sp_f", "sp_z"]


def test_a_held_off_term_reads_0_and_the_others_their_value():
    torch.manual_seed(0)
    model = DSVAE(DSVAEConfig.preset("tiny", q_z="full-no-f"))
    options = TrainConfig(method="cdsvae", method_options={"contrastive_z": 0.0}, delayed_terms=("nce_f",))
    opt = adam(model.parameters(), lr=0.0)
    step = TrainingStep.of(model, model, opt, options, torch.device("cpu"), "fp32")
    x = torch.rand(4, 4, 3, 16, 16)
    held, started = step(x, 1.0, 0.0, 0.0), step(x, 1.0, 0.0, 1.0)
    assert step.term_names()[-2:] == ("nce_f", "mi_fz")
    assert held[-2] == 0 and held[-1] != 0 and started[-2] != 0
