"""Pictures and sounds as a self-contained page embeds them: ``data:`` URIs of copies made for a
screen, the files of RUN/pictures left as they are.

The grids `dsvae viz` writes are made to be zoomed into (every frame enlarged, 24-bit PNG strips,
a palette of its own for every GIF frame); a page that embeds them as they are weighs tens of MB. The
embedded copy of a picture is made lighter with little visible change (:func:`page_copy`): wider
than the page's column, it is shrunk to fit (:data:`PAGE_WIDTH`); an animation becomes an animated
PNG whose frames share one palette (what does not move is then the same pixel in every frame, which
the encoder leaves out), its repeated frames merged into one shown longer; a still becomes a
palette PNG. A copy that would not be smaller than the file is not used.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

from PIL import Image, ImageSequence

MEDIA_TYPES = {".png": "image/png", ".gif": "image/gif", ".wav": "audio/wav"}
PAGE_WIDTH = 1100  # pixels: the report's column (its max-width of 1200 less the side padding)
# colours of a copy's palette: a frame's fine texture (a decoder's soft edges) is what weighs, not
# its colours, and 128 of them shared by all the frames keep the characters' colours apart
PNG_COLOURS = 128


def data_uri(path: str | Path, max_width: int | None = PAGE_WIDTH, max_frames: int | None = None) -> str:
    """``data:<type>;base64,...`` of the file ``path`` (.png, .gif or .wav), a picture as its page
    copy (:func:`page_copy`, at most ``max_width`` pixels wide and ``max_frames`` frames; None: any).
    Raises KeyError for another suffix, OSError where the file cannot be read."""
    path = Path(path)
    media = MEDIA_TYPES[path.suffix]
    data = path.read_bytes()
    if media.startswith("image/"):
        data, media = page_copy(data, media, max_width, max_frames)
    return f"data:{media};base64,{base64.b64encode(data).decode('ascii')}"


def page_copy(
    data: bytes, media: str, max_width: int | None = PAGE_WIDTH, max_frames: int | None = None
) -> tuple[bytes, str]:
    """(bytes, media type) of a page copy of the picture ``data`` (a PNG or GIF of type ``media``):
    at most ``max_width`` pixels wide (None: its own width); a still as a palette PNG of
    :data:`PNG_COLOURS`, an animation as an animated PNG whose frames share a palette of
    :data:`PNG_COLOURS`, repeated frames merged and, past ``max_frames``, every k-th frame kept for
    k times as long (the clip plays at its own pace, in fewer steps). PNG's row filters find what a
    pixel repeats of the row above (frames are enlarged by whole blocks of pixels) where GIF's
    encoder sees rows alone: the animation is about a third lighter than a palette GIF, and every
    browser plays it.
    The file's own bytes and type where the copy is not smaller (a picture already small, a file
    Pillow cannot read: the browser then says so)."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            if getattr(im, "n_frames", 1) > 1:
                copy = _animation_copy(im, max_width, max_frames)
            else:
                copy = _still_copy(im, max_width)
    except (OSError, ValueError, SyntaxError):  # Pillow's errors of a damaged or foreign file
        return data, media
    return (copy, "image/png") if len(copy) < len(data) else (data, media)


def _fit(image: Image.Image, max_width: int | None) -> Image.Image:
    """``image`` shrunk (box filter: each pixel the mean of those it covers) to ``max_width`` pixels
    wide, its aspect kept; as it is where it fits."""
    if max_width is None or image.width <= max_width:
        return image
    height = max(1, round(image.height * max_width / image.width))
    return image.resize((max_width, height), Image.Resampling.BOX)


def _rgb(image: Image.Image) -> Image.Image:
    """RGB pixels of any mode, transparent parts on white (a figure's background)."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")


def _palette(frames: list[Image.Image]) -> Image.Image:
    """One palette of :data:`PNG_COLOURS` for all ``frames`` (RGB, one size): median cut over every
    other pixel of every other row of all of them together (frames are enlarged by whole blocks of
    pixels, so the sample misses few colours, at a quarter of the work)."""
    w, h = frames[0].size
    mosaic = Image.new("RGB", (w, h * len(frames)))
    for i, frame in enumerate(frames):
        mosaic.paste(frame, (0, i * h))
    sample = mosaic.resize((max(1, w // 2), max(1, h * len(frames) // 2)), Image.Resampling.NEAREST)
    return sample.quantize(PNG_COLOURS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)


def _animation_copy(im: Image.Image, max_width: int | None, max_frames: int | None) -> bytes:
    """An animated GIF (or PNG) as an animated PNG: every k-th of its frames (k the least that
    leaves at most ``max_frames``) shown k times as long, the distinct consecutive ones, shrunk to
    fit, in one palette (:func:`_palette`; no dithering: dither noise differs from frame to frame),
    each repeated frame's time added to the one before."""
    n = getattr(im, "n_frames", 1)
    step = 1 if max_frames is None else -(-n // max(1, max_frames))
    frames: list[Image.Image] = []
    durations: list[int] = []
    for i, frame in enumerate(ImageSequence.Iterator(im)):
        ms = int(frame.info.get("duration", im.info.get("duration", 100)))
        if i % step:
            durations[-1] += ms  # a frame left out: the one kept before it stays up in its time
            continue
        rgb = _fit(_rgb(frame), max_width)
        if frames and rgb.tobytes() == frames[-1].tobytes():
            durations[-1] += ms
        else:
            frames.append(rgb)
            durations.append(ms)
    palette = _palette(frames)
    indexed = [f.quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
    out = io.BytesIO()
    # Pillow stores of each frame only the box that changed since the one before
    indexed[0].save(
        out,
        format="PNG",
        save_all=True,
        append_images=indexed[1:],
        duration=durations,
        loop=im.info.get("loop", 0),
        optimize=True,
    )
    return out.getvalue()


def _still_copy(im: Image.Image, max_width: int | None) -> bytes:
    """A still re-encoded as a palette PNG of :data:`PNG_COLOURS` (exact where the picture has no
    more colours, as plots mostly have), shrunk to fit."""
    rgb = _fit(_rgb(im), max_width)
    indexed = rgb.quantize(PNG_COLOURS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    indexed.save(out, format="PNG", optimize=True)
    return out.getvalue()


__all__ = ["MEDIA_TYPES", "PAGE_WIDTH", "PNG_COLOURS", "data_uri", "page_copy"]
