"""Image files -> the 8-bit RGB an image viewer shows: one conversion for every importer.

Pillow opens images in many modes, and its own ``convert("RGB")`` is right for most of them but
clips deeper ones: a 16-bit grayscale PNG (mode ``I;16``, values 0-65535) becomes almost all white.
:func:`to_rgb8` reads each mode as a viewer does:

- ``1``, ``L``, ``P``, ``RGB``, ``RGBX``, ``CMYK``, ``YCbCr``, ``HSV``, ``LAB``: Pillow's conversion;
- 16-bit gray (``I;16``, ``I;16B``, ``I;16L``, ``I;16N``) and 32-bit integer ``I`` holding 16-bit
  values: scaled from 0-65535 to 0-255 (value / 257, rounded); ``I`` values outside 0-65535 are
  refused (there is no range a viewer would agree on);
- floats (``F``): read as [0, 1] (as image editors do), scaled by 255; values outside are refused;
- EXIF orientation (:func:`read_rgb8`): applied, as viewers turn phone photos upright;
- transparency (``LA``, ``La``, ``PA``, ``P`` with a transparent colour, ``RGBA``, ``RGBa``):
  composited over black (:data:`BACKGROUND`), so hidden colours under transparent pixels never show.
  Videos with an alpha channel are composited over the same background
  (:func:`composite_over_background`), so a clip reads the same as frame images, a GIF or a video.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N")
ALPHA = ("LA", "La", "PA", "RGBA", "RGBa")
PLAIN = ("1", "L", "P", "RGB", "RGBX", "CMYK", "YCbCr", "HSV", "LAB")


# what every transparent pixel is shown over: images, GIFs, frame folders and videos alike (the Sprites
# frames are composited on black too)
BACKGROUND = "black"


class ImageModeError(ValueError):
    """An image whose pixels have no unambiguous 8-bit RGB reading; the message says why."""


def to_rgb8(image: Image.Image, shown: dict | None = None) -> np.ndarray:
    """A Pillow image of any mode -> uint8 ``(H, W, 3)``, as an image viewer shows it (see the
    module docstring). Raises :class:`ImageModeError` for modes or values with no such reading.

    ``shown``, if given, records an alpha channel composited over :data:`BACKGROUND`: ``"alpha"``
    (the mode that carried it) and ``"transparent_frames"`` (incremented when a pixel was not opaque),
    as :func:`composite_over_background` does for video frames."""
    mode = image.mode
    if mode in ALPHA or (mode == "P" and "transparency" in image.info):
        rgba = (image.convert("LA") if mode == "La" else image).convert("RGBA")  # no direct La -> RGBA
        return composite_over_background(np.asarray(rgba), shown, mode)
    if mode in PLAIN:
        return np.asarray(image.convert("RGB"))
    if mode in SIXTEEN_BIT or mode == "I":
        values = np.asarray(image)
        if mode == "I" and values.size and (values.min() < 0 or values.max() > 65535):
            raise ImageModeError(
                f"a 32-bit integer image with values in [{values.min()}, {values.max()}]: only 0-65535 "
                "(16-bit) integer images have a known white level; save it as an 8- or 16-bit image"
            )
        return _gray_to_rgb(np.rint(values.astype(np.float64) / 257.0))
    if mode == "F":
        values = np.asarray(image, dtype=np.float64)
        if not np.isfinite(values).all() or (values.size and (values.min() < 0.0 or values.max() > 1.0)):
            finite = values[np.isfinite(values)]
            span = f"[{finite.min():.4g}, {finite.max():.4g}]" if finite.size else "no finite value"
            if finite.size < values.size:
                span += " and NaN/inf"
            raise ImageModeError(
                f"a floating-point image with values in {span}: "
                "float images are read as [0, 1]; rescale it to [0, 1] or save it as an 8- or 16-bit image"
            )
        return _gray_to_rgb(np.rint(values * 255.0))
    raise ImageModeError(
        f"image mode {mode!r} is not supported; save the image as 8-bit RGB or grayscale (e.g. PNG)"
    )


def composite_over_background(rgba: np.ndarray, shown: dict | None = None, channel: str = "") -> np.ndarray:
    """uint8 ``(H, W, 4)`` straight (not premultiplied) RGBA -> uint8 ``(H, W, 3)`` composited over
    :data:`BACKGROUND` (black: each colour times its alpha / 255, rounded), as a player shows a
    video with an alpha channel on a black page. ``shown``/``channel``: recorded as by :func:`to_rgb8`."""
    alpha = rgba[..., 3:].astype(np.uint16)
    if shown is not None:
        _record_alpha(shown, channel, bool((alpha < 255).any()))
    # (c * a + 127) // 255: c * a / 255 rounded, exact in 16 bits (255 * 255 + 127 < 2**16)
    return ((rgba[..., :3].astype(np.uint16) * alpha + 127) // 255).astype(np.uint8)


def _record_alpha(shown: dict, channel: str, transparent: bool) -> None:
    shown.setdefault("alpha", channel)
    shown["transparent_frames"] = shown.get("transparent_frames", 0) + int(transparent)


def _gray_to_rgb(values: np.ndarray) -> np.ndarray:
    gray = values.astype(np.uint8)
    return np.repeat(gray[..., None], 3, axis=-1)


def read_rgb8(path: str | Path, shown: dict | None = None) -> np.ndarray:
    """The first image in the file ``path`` as uint8 ``(H, W, 3)`` (:func:`to_rgb8`, which fills
    ``shown``), turned upright as its EXIF orientation says (as viewers do with phone photos). Raises
    :class:`ImageModeError` for unsupported pixels and Pillow's errors (``OSError``, ...) for
    unreadable files."""
    with Image.open(path) as image:
        return to_rgb8(ImageOps.exif_transpose(image), shown)
