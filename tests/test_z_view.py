"""The colour-blind dynamics view (z_view): what q(z) sees of a frame, and that it learns."""

import pytest
import torch

from dsvae import DSVAE, DSVAEConfig
from dsvae.model import dynamics_view, sequence_dynamics_view


def scene(square_rgb, background=(0.2, 0.4, 0.6), B=2, T=4, size=16) -> torch.Tensor:
    """(B, T, 3, size, size): a uniform background and a coloured square that moves right."""
    x = torch.tensor(background).view(1, 1, 3, 1, 1).repeat(B, T, 1, size, size)
    for t in range(T):
        x[:, t, :, 4:9, 2 + 2 * t : 7 + 2 * t] = torch.tensor(square_rgb).view(1, 3, 1, 1)
    return x


def test_silhouette_is_the_foreground_mask():
    x = scene((0.9, 0.1, 0.1))
    m = dynamics_view(x.flatten(0, 1), "silhouette")
    assert m.shape == (8, 1, 16, 16) and set(m.unique().tolist()) == {0.0, 1.0}
    want = torch.zeros(4, 16, 16)
    for t in range(4):
        want[t, 4:9, 2 + 2 * t : 7 + 2 * t] = 1
    assert torch.equal(m.view(2, 4, 16, 16)[0], want)


def test_gray_is_the_channel_mean():
    x = torch.rand(5, 3, 8, 8)
    assert torch.allclose(dynamics_view(x, "gray"), x.mean(1, keepdim=True))


def test_silhouette_change_cancels_what_does_not_move():
    """z_view silhouette-change: each frame's silhouette minus the sequence's mean silhouette, so a
    shape that stays put over the sequence (a hair style, a hat) is invisible to q(z)."""
    x = scene((0.9, 0.1, 0.1))
    hat = x.clone()
    hat[:, :, :, 12:15, 12:15] = 0.95  # a static blob on every frame
    view = lambda v: sequence_dynamics_view(v, "silhouette-change")  # noqa: E731
    d, d_hat = view(x), view(hat)
    assert d.shape == (2, 4, 1, 16, 16)
    assert torch.equal(d, d_hat)
    s = dynamics_view(x.flatten(0, 1), "silhouette").view(2, 4, 1, 16, 16)
    assert torch.allclose(d, s - s.mean(1, keepdim=True))
    assert torch.allclose(d.sum(1), torch.zeros(2, 1, 16, 16), atol=1e-6)  # zero mean over time


def test_a_still_sequence_gives_z_nothing_with_silhouette_change():
    torch.manual_seed(0)
    model = DSVAE(DSVAEConfig.preset("tiny", q_z="factorized", z_view="silhouette-change")).eval()
    still_a = scene((0.9, 0.1, 0.1))[:, :1].repeat(1, 4, 1, 1, 1)
    still_b = torch.rand(2, 1, 3, 16, 16).repeat(1, 4, 1, 1, 1)
    with torch.no_grad():
        assert torch.equal(model.encode(still_a).z, model.encode(still_b).z)


def test_silhouette_change_keeps_what_moves():
    """The moving square survives: frame t's view is +1 - 1/T on its square, -1/T where it was or will be."""
    d = sequence_dynamics_view(scene((0.9, 0.1, 0.1)), "silhouette-change")
    assert d[0, 0, 0, 6, 2].item() == pytest.approx(1 - 1 / 4)  # only frame 0 covers column 2
    assert d[0, 1, 0, 6, 2].item() == pytest.approx(-1 / 4)
    assert d[0, 0, 0, 6, 6].item() == pytest.approx(1 - 3 / 4)  # frames 0-2 cover column 6


@pytest.mark.parametrize(
    "z_view,blind", [("silhouette", True), ("silhouette-change", True), ("shared", False)]
)
def test_z_is_blind_to_colour_only_with_the_silhouette_view(z_view, blind):
    torch.manual_seed(0)
    model = DSVAE(DSVAEConfig.preset("tiny", q_z="factorized", z_view=z_view)).eval()
    red, green = scene((0.9, 0.1, 0.1)), scene((0.1, 0.8, 0.2))
    with torch.no_grad():
        z_red, z_green = model.encode(red).z, model.encode(green).z
        f_red, f_green = model.encode(red).f, model.encode(green).f
    assert torch.equal(z_red, z_green) == blind
    assert not torch.allclose(f_red, f_green)  # q(f) still sees the colours


@pytest.mark.parametrize("q_z", ["factorized", "full"])
@pytest.mark.parametrize("z_view", ["silhouette", "silhouette-change", "gray"])
def test_gradients_reach_the_dynamics_encoder(q_z, z_view):
    torch.manual_seed(0)
    cfg = DSVAEConfig.preset("tiny", q_z=q_z, z_view=z_view, z_conv_channels=(4, 8))
    model = DSVAE(cfg)
    model(torch.rand(3, cfg.T, *cfg.frame_shape)).loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
    enc = [p.grad.abs().sum() for n, p in model.named_parameters() if n.startswith("z_frame_encoder.")]
    assert enc and sum(enc) > 0
    assert model.z_frame_encoder.convs[0].in_channels == 1
    assert [m.out_channels for m in model.z_frame_encoder.convs if isinstance(m, torch.nn.Conv2d)] == [4, 8]


def test_save_load_keeps_the_view(tmp_path):
    torch.manual_seed(0)
    model = DSVAE(DSVAEConfig.preset("tiny", z_view="silhouette", z_conv_channels=(4, 8))).eval()
    model.save(tmp_path / "m")
    loaded = DSVAE.load(tmp_path / "m").eval()
    assert loaded.config == model.config
    x = scene((0.5, 0.5, 0.1))
    assert torch.equal(model.encode(x).z, loaded.encode(x).z)


def test_bad_view_settings_are_clear():
    with pytest.raises(ValueError, match="z_view must be one of"):
        DSVAEConfig.preset("tiny", z_view="edges")
    with pytest.raises(ValueError, match="one width per stride"):
        DSVAEConfig.preset("tiny", z_view="gray", z_conv_channels=(4, 8, 16))
    with pytest.raises(ValueError, match="needs video frames"):
        DSVAEConfig.preset("speech", z_view="silhouette")
    with pytest.raises(ValueError, match="needs T >= 2"):
        DSVAEConfig.preset("tiny", T=1, z_view="silhouette-change")
