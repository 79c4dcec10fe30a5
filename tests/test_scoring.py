"""Scoring copies and chunked per-frame inference (what `dsvae eval` runs): the same outputs as the
model and judge they are made from, the caller's tensors untouched, and no chunking where it would
change a result (training mode, autograd)."""

import pytest
import torch
from torch import nn

from dsvae import DSVAE, DSVAEConfig
from dsvae.device import CPU_CHUNK_ELEMENTS, fold_for_inference, per_frame


def _trained_batchnorms(model: nn.Module) -> nn.Module:
    """Give every BatchNorm running statistics and an affine map other than the identity."""
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.3)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return model


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"z_view": "silhouette-change"},
        {"q_f": "first-frame"},
        {"q_f": "first-frame", "frame_context": "sequence"},
    ],
)
def test_the_scoring_copy_encodes_and_decodes_as_the_model(channels_last, overrides):
    torch.manual_seed(0)
    model = _trained_batchnorms(DSVAE(DSVAEConfig.preset("tiny", **overrides))).eval()
    scorer = model.for_scoring(channels_last)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in scorer.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # the model itself is kept
    cfg = model.config
    x = torch.rand(5, cfg.T, *cfg.frame_shape)
    kept = x.clone()
    with torch.no_grad():
        a, b = model.encode(x), scorer.encode(x)
        assert torch.allclose(a.f, b.f, atol=1e-4) and torch.allclose(a.z, b.z, atol=1e-4)
        assert torch.allclose(model.decode(a.f, a.z), scorer.decode(a.f, a.z), atol=1e-4)
    assert torch.equal(x, kept)  # in-place activations never write the caller's frames


def test_a_scoring_copy_is_not_saved_as_a_model(tmp_path):
    scorer = DSVAE(DSVAEConfig.preset("tiny")).for_scoring()
    with pytest.raises(ValueError, match="scoring copy.*save the model it was made from"):
        scorer.save(tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_folding_keeps_the_input_and_the_outputs():
    torch.manual_seed(0)
    layers = _trained_batchnorms(
        nn.Sequential(
            nn.LeakyReLU(0.2),  # first: it must not write the input in place
            nn.Conv2d(3, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.ConvTranspose2d(8, 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(4),
            nn.LeakyReLU(0.2),
        )
    ).eval()
    folded = fold_for_inference(layers)
    assert [type(m) for m in folded] == [nn.LeakyReLU, nn.Conv2d, nn.ReLU, nn.ConvTranspose2d, nn.LeakyReLU]
    assert not folded[0].inplace and folded[2].inplace and folded[4].inplace
    x = torch.randn(6, 3, 8, 8)
    kept = x.clone()
    with torch.no_grad():
        assert torch.allclose(layers(x), folded(x), atol=1e-5)
    assert torch.equal(x, kept)


class _Calls(nn.Module):
    """A per-row network (eval-mode BatchNorm) that counts its calls."""

    def __init__(self):
        super().__init__()
        self.bn = _trained_batchnorms(nn.Sequential(nn.BatchNorm2d(3)))[0]
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.bn(x) * 2.0


def test_per_frame_chunks_cpu_inference_only():
    net = _Calls().eval()
    rows = CPU_CHUNK_ELEMENTS // (3 * 8 * 8)
    x = torch.randn(2 * rows + 5, 3, 8, 8)
    with torch.no_grad():
        whole = net(x)
        net.calls = 0
        chunked = per_frame(net, x)
    assert net.calls == 3 and torch.allclose(whole, chunked) and chunked.shape == whole.shape
    net.calls = 0
    with torch.no_grad():
        per_frame(net, x[:rows])  # one chunk's worth: one call
    assert net.calls == 1
    net.calls = 0
    per_frame(net, x)  # autograd on: one call over the whole batch
    assert net.calls == 1
    net.train()
    net.calls = 0
    with torch.no_grad():
        per_frame(net, x)  # training mode: BatchNorm's statistics span the batch
    assert net.calls == 1
    # frame_numel counts a frame's elements on the far side (a decoder's output)
    net.eval()
    net.calls = 0
    with torch.no_grad():
        per_frame(net, x[: rows // 4 + 1], frame_numel=4 * 3 * 8 * 8)
    assert net.calls == 2
