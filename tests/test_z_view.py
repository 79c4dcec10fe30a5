"""The colour-blind dynamics view (z_view): what q(z) sees of a frame, and that it learns."""

import pytest
import torch

from dsvae import DSVAE, DSVAEConfig
from dsvae.model import dynamics_view


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


@pytest.mark.parametrize("z_view,blind", [("silhouette", True), ("shared", False)])
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
@pytest.mark.parametrize("z_view", ["silhouette", "gray"])
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
