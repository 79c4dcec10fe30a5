import io

import numpy as np
from PIL import Image, ImageSequence

from dsvae.embed import PAGE_WIDTH, data_uri, page_copy


def gif_bytes(frames: list[np.ndarray], ms: int = 150) -> bytes:
    images = [Image.fromarray(f) for f in frames]
    out = io.BytesIO()
    images[0].save(out, format="GIF", save_all=True, append_images=images[1:], duration=ms, loop=0)
    return out.getvalue()


def test_an_animation_keeps_its_pace_in_fewer_lighter_frames():
    rng = np.random.default_rng(0)
    still = np.kron(rng.integers(0, 4, (40, 60, 3)) * 60, np.ones((2, 2, 1))).astype(np.uint8)
    moving = [np.roll(still, 2 * t, axis=1) for t in range(8)]
    frames = moving[:4] + [moving[3]] * 2 + moving[4:6]  # a repeated frame shown three times
    data = gif_bytes(frames)
    copy, media = page_copy(data, "image/gif")
    assert media == "image/png" and len(copy) < len(data)
    with Image.open(io.BytesIO(copy)) as im:
        shown = [(np.asarray(f.convert("RGB")), f.info["duration"]) for f in ImageSequence.Iterator(im)]
    assert [ms for _, ms in shown] == [150, 150, 150, 450, 150, 150]  # the repeats merged, same 1.2 s
    np.testing.assert_array_equal(shown[0][0], frames[0])  # 5 colours: the palette holds them exactly
    fewer, _ = page_copy(data, "image/gif", max_frames=4)
    with Image.open(io.BytesIO(fewer)) as im:
        assert sum(f.info["duration"] for f in ImageSequence.Iterator(im)) == 8 * 150 and im.n_frames <= 4


def test_a_wide_still_fits_the_page_and_a_foreign_file_stays_as_it_is(tmp_path):
    wide = tmp_path / "wide.png"
    Image.fromarray(np.full((50, 3000, 3), 200, np.uint8)).save(wide)
    copy, _ = page_copy(wide.read_bytes(), "image/png")
    with Image.open(io.BytesIO(copy)) as im:
        assert im.size == (PAGE_WIDTH, round(50 * PAGE_WIDTH / 3000))
    with Image.open(io.BytesIO(page_copy(wide.read_bytes(), "image/png", max_width=None)[0])) as im:
        assert im.size == (3000, 50)
    assert page_copy(b"not a picture", "image/png") == (b"not a picture", "image/png")
    (tmp_path / "a.wav").write_bytes(b"RIFF")
    assert data_uri(tmp_path / "a.wav") == "data:audio/wav;base64,UklGRg=="
