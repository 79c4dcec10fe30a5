"""Image files -> the 8-bit RGB a viewer shows: every Pillow mode, built from a known 8-bit reference,
read back by the one conversion every importer uses (and, end to end, by the video importer)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dsvae.data.images import ImageModeError, read_rgb8, to_rgb8
from dsvae.data.video import import_videos

H, W = 12, 16
RGB = np.stack(  # colour ramps: every channel different, dark to bright
    [
        np.tile(np.linspace(0, 255, W), (H, 1)),
        np.tile(np.linspace(255, 0, H)[:, None], (1, W)),
        np.full((H, W), 96.0),
    ],
    axis=-1,
).astype(np.uint8)
MUTED = RGB // 2 + 64
GRAY = np.asarray(Image.fromarray(RGB).convert("L"))
HALF = np.zeros((H, W), dtype=np.uint8)  # an alpha channel: opaque left, transparent right, one 128 column
HALF[:, : W // 2] = 255
HALF[:, W // 2] = 128


def gray3(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[..., None], 3, axis=-1)


def over_black(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    return np.rint(rgb.astype(float) * alpha[..., None] / 255.0).astype(np.uint8)


GRAY_OVER_BLACK = over_black(gray3(GRAY), HALF)


def with_alpha(image: Image.Image, alpha: np.ndarray = HALF) -> Image.Image:
    image = image.copy()
    image.putalpha(Image.fromarray(alpha))
    return image


def palette_image(transparent: int | None = None) -> tuple[Image.Image, np.ndarray]:
    """A P image of 6 known colours in bands; the expected RGB (the transparent index black)."""
    colours = np.array([[255, 0, 0], [0, 200, 0], [0, 0, 180], [250, 250, 250], [30, 30, 30], [90, 60, 20]])
    index = (np.arange(W)[None, :].repeat(H, 0) * 6 // W).astype(np.uint8)
    image = Image.fromarray(index, "P")
    image.putpalette(colours.astype(np.uint8).ravel().tolist())
    expected = colours[index].astype(np.uint8)
    if transparent is not None:
        image.info["transparency"] = transparent
        expected[index == transparent] = 0
    return image, expected


def sixteen_bit(mode: str) -> Image.Image:
    dtype = ">u2" if mode == "I;16B" else "<u2"  # I;16N is native: little-endian here
    return Image.frombytes(mode, (W, H), (GRAY.astype(np.uint32) * 257).astype(dtype).tobytes())


# mode -> (image made from the reference, expected 8-bit RGB, largest difference allowed)
CASES = {
    "1": lambda: (Image.fromarray(GRAY >= 128), gray3(np.where(GRAY >= 128, 255, 0).astype(np.uint8)), 0),
    "L": lambda: (Image.fromarray(GRAY), gray3(GRAY), 0),
    "LA": lambda: (with_alpha(Image.fromarray(GRAY).convert("LA")), GRAY_OVER_BLACK, 1),
    "La": lambda: (with_alpha(Image.fromarray(GRAY).convert("LA")).convert("La"), GRAY_OVER_BLACK, 1),
    "P": lambda: (*palette_image(), 0),
    "P+transparency": lambda: (*palette_image(transparent=2), 0),
    "PA": lambda: (with_alpha(palette_image()[0].convert("PA")), over_black(palette_image()[1], HALF), 1),
    "I;16": lambda: (sixteen_bit("I;16"), gray3(GRAY), 0),
    "I;16B": lambda: (sixteen_bit("I;16B"), gray3(GRAY), 0),
    "I;16L": lambda: (sixteen_bit("I;16L"), gray3(GRAY), 0),
    "I;16N": lambda: (sixteen_bit("I;16N"), gray3(GRAY), 0),
    "I": lambda: (Image.fromarray(GRAY.astype(np.int32) * 257), gray3(GRAY), 0),
    "F": lambda: (Image.fromarray((GRAY / 255.0).astype(np.float32)), gray3(GRAY), 0),
    "RGB": lambda: (Image.fromarray(RGB), RGB, 0),
    "RGBA": lambda: (with_alpha(Image.fromarray(RGB)), over_black(RGB, HALF), 1),
    "RGBa": lambda: (with_alpha(Image.fromarray(RGB)).convert("RGBa"), over_black(RGB, HALF), 1),
    "RGBX": lambda: (Image.fromarray(RGB).convert("RGBX"), RGB, 0),
    "CMYK": lambda: (Image.fromarray(RGB).convert("CMYK"), RGB, 0),
    "YCbCr": lambda: (Image.fromarray(RGB).convert("YCbCr"), RGB, 3),
    "HSV": lambda: (Image.fromarray(RGB).convert("HSV"), RGB, 6),
    "LAB": lambda: (Image.fromarray(MUTED).convert("LAB"), MUTED, 8),  # 8-bit L*a*b* steps are coarse
}  # fmt: skip


def test_every_pillow_mode_is_covered():
    assert set(Image.MODES) <= {name.split("+")[0] for name in CASES}


@pytest.mark.parametrize("name", list(CASES))
def test_each_mode_gives_the_rgb_a_viewer_shows(name):
    image, expected, tolerance = CASES[name]()
    assert image.mode == name.split("+")[0]
    got = to_rgb8(image)
    assert got.shape == (H, W, 3) and got.dtype == np.uint8
    assert np.abs(got.astype(int) - expected).max() <= tolerance


@pytest.mark.parametrize(
    "image,message",
    [
        (Image.fromarray(np.full((4, 4), -5, dtype=np.int32)), "32-bit integer image with values in"),
        (Image.fromarray(np.full((4, 4), 70000, dtype=np.int32)), "only 0-65535"),
        (Image.fromarray(np.full((4, 4), 200.0, dtype=np.float32)), "read as \\[0, 1\\]"),
        (Image.fromarray(np.full((4, 4), np.nan, dtype=np.float32)), "NaN"),
    ],
)
def test_values_without_a_known_white_level_are_refused(image, message):
    with pytest.raises(ImageModeError, match=message):
        to_rgb8(image)


def test_exif_orientation_is_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to show"
    Image.fromarray(RGB).save(tmp_path / "phone.png", exif=exif)
    np.testing.assert_array_equal(read_rgb8(tmp_path / "phone.png"), np.rot90(RGB, -1))


def ramp_clip(n: int = 6) -> np.ndarray:
    """The issue's clip: a horizontal grey ramp with a bright square moving across, 8-bit (n, 32, 32)."""
    frames = np.tile(np.linspace(0, 200, 32).astype(np.uint8), (n, 32, 1))
    for t in range(n):
        frames[t, 12:20, 4 * t : 4 * t + 8] = 250
    return frames


@pytest.mark.parametrize(
    "ext,make",
    [
        ("png", lambda g: Image.frombytes("I;16", (32, 32), (g.astype(np.uint16) * 257).tobytes())),
        ("tif", lambda g: Image.frombytes("I;16", (32, 32), (g.astype(np.uint16) * 257).tobytes())),
        ("tif", lambda g: Image.fromarray((g / 255.0).astype(np.float32))),
        ("png", lambda g: with_alpha(Image.fromarray(g).convert("LA"), np.full(g.shape, 255, np.uint8))),
        ("tif", lambda g: Image.fromarray(g).convert("RGB").convert("CMYK")),
    ],
)
def test_deep_and_odd_frame_files_import_as_their_8bit_originals(tmp_path, ext, make):
    frames = ramp_clip()
    for name, pixels in (("eight", frames), ("other", frames)):
        folder = tmp_path / "clips" / name
        folder.mkdir(parents=True)
        for t, g in enumerate(pixels):
            (Image.fromarray(g) if name == "eight" else make(g)).save(folder / f"f{t}.{ext}")
    ds = import_videos(tmp_path / "clips", tmp_path / "ds", size=32, T=3, test_fraction=0)
    # decoded to exactly the 8-bit frames (the same sha256), "other" is the same clip: imported once
    assert ds.meta["duplicates"] == [{"source": "other", "same_as": "eight", "by": "frames"}]
    eight = ds.frames[ds.info["source"] == "eight"]
    assert eight.shape == (2, 3, 32, 32, 3) and set(ds.info["source"].tolist()) == {"eight"}
    assert (eight == 255).mean() < 0.01  # not the white of a clipped 16-bit image


def test_a_frame_that_cannot_be_read_as_rgb_skips_its_clip(tmp_path, capsys):
    frames = ramp_clip()
    for name in ("good", "wide"):
        folder = tmp_path / "clips" / name
        folder.mkdir(parents=True)
        for t, g in enumerate(frames):
            values = g.astype(np.float32) if name == "wide" else g  # floats 0-255: no known scale
            Image.fromarray(values).save(folder / f"f{t}.tif")
    ds = import_videos(tmp_path / "clips", tmp_path / "ds", size=32, T=3, test_fraction=0)
    assert set(ds.info["source"].tolist()) == {"good"}
    assert "skipped wide: f0.tif: ImageModeError" in capsys.readouterr().err


def test_an_alpha_channel_composited_over_black_is_recorded():
    shown: dict = {}
    rgba = with_alpha(Image.fromarray(RGB))
    np.testing.assert_array_equal(to_rgb8(rgba, shown), over_black(RGB, HALF))  # exactly c * a / 255
    to_rgb8(with_alpha(Image.fromarray(RGB), np.full((H, W), 255, np.uint8)), shown)  # opaque
    assert shown == {"alpha": "RGBA", "transparent_frames": 1}
    plain: dict = {}
    to_rgb8(Image.fromarray(RGB), plain)
    to_rgb8(palette_image(transparent=2)[0], plain)
    assert plain == {"alpha": "P", "transparent_frames": 1}


def test_a_transparent_gif_and_frame_images_are_listed_in_meta(tmp_path, capsys):
    clips = tmp_path / "clips"
    (clips / "pngs").mkdir(parents=True)
    for t, g in enumerate(ramp_clip(4)):
        with_alpha(Image.fromarray(g).convert("RGB"), np.full(g.shape, 128 + t, np.uint8)).save(
            clips / "pngs" / f"f{t}.png"
        )
    images = [Image.fromarray(g).convert("P") for g in ramp_clip(4)[::-1]]
    images[0].save(clips / "t.gif", save_all=True, append_images=images[1:], transparency=0, duration=100)
    Image.fromarray(ramp_clip(4)[0]).save(clips / "opaque.png")
    ds = import_videos(clips, tmp_path / "ds", size=32, T=4, test_fraction=0)
    composited = ds.meta["alpha"]["composited"]
    assert set(composited) == {"pngs", "t.gif"} and composited["pngs"] == {
        "channel": "RGBA",
        "transparent_frames": 4,
    }
    assert ds.meta["alpha"]["background"] == "black"
    assert "2 of 3 clips have an alpha channel, composited over black" in capsys.readouterr().err
