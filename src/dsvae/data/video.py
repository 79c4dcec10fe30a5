"""Your own videos as a dataset: video files, folders of videos or folders of frame images.

Each clip is decoded one frame at a time (PyAV, FFmpeg's libraries, for video files; Pillow for
GIFs and frame images), every ``frame_step``-th frame is resized to ``size x size`` RGB and the
frames are cut into sequences of ``T``, consecutive sequences starting ``stride`` sampled frames
apart. The sequences stream into ``frames.npy`` inside an atomic dataset folder, so the memory
used stays flat however long the input is.

Time: one stored frame per decoded frame, each with its own timestamp (a video frame's
presentation time, a GIF frame's summed durations), so a variable-frame-rate video (phones,
screen recordings) is neither padded with repeated frames nor thinned. Resampling to a fixed rate
is an explicit option (``fps``): then each tick ``t0 + k / fps`` takes the frame a player shows
at that time. Pixels: :func:`dsvae.data.images.to_rgb8` (every Pillow mode as a viewer shows it);
a rotated video is turned as its display matrix says.

Transparency: an alpha channel (images, GIFs, frame folders, videos: VP8/VP9 alpha in WebM is
decoded with libvpx, as FFmpeg's native decoders drop it) is composited over black
(:func:`dsvae.data.images.composite_over_background`); an alpha that cannot be decoded is refused.

Resize policy (``fit``): the frame is scaled keeping its aspect ratio, then
- ``"crop"``: scaled so that its short side is ``size``, and the centre square is kept;
- ``"pad"``: scaled so that its long side is ``size``, and centred on black.

A file that cannot be decoded (or holds no frame) is reported, skipped and counted; a clip with
fewer than ``T`` sampled frames is reported and gives no sequence; a video that decodes to less than
its container declares (frames, or a duration) is reported as cut short. The same clip under two
names (a link, a copy, identical decoded frames) is imported once, or refused if its labels differ.
The split is by source file (whole videos go to the test set); with a single source the last
sequences in time are the test set.
"""

from __future__ import annotations

import csv
import hashlib
import math
import os
import re
import sys
import unicodedata
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, ImageSequence
from tqdm import tqdm

from ..progress import progress
from .base import DatasetError, FramesWriter, SequenceDataset, atomic_dataset_dir, write_columns
from .images import BACKGROUND, composite_over_background, read_rgb8, to_rgb8
from .sources import FRAME_EXTENSIONS, VIDEO_EXTENSIONS

# files with the extensions of sources.VIDEO_EXTENSIONS are videos even when they do not open (then
# reported as unreadable); every other file is a clip when PyAV or Pillow reads one in it (find_inputs);
# FRAME_EXTENSIONS are taken as images without probing. Both lists live in the table of sources.
NOT_VIDEO_FORMATS = ("tty", "lavfi")  # FFmpeg demuxers that render text or generate pictures
FITS = ("crop", "pad")
GIF_DEFAULT_MS = 100  # browsers show GIF frames of 0-10 ms for 100 ms


@dataclass(frozen=True)
class Clip:
    """One source of frames: a video file, a GIF or a folder of frame images."""

    path: Path
    source: str  # path relative to the input (posix), the ``source`` info column
    kind: str  # "video" | "gif" | "frames"
    frame_files: tuple[Path, ...] = field(default=())


class UnreadableClip(Exception):
    """The decoder failed on a clip; the clip is skipped (and counted), the import goes on."""


# --- finding the clips --------------------------------------------------------------------------------
def _natural_key(name: str) -> list[int | str]:
    """frame2 before frame10: digit runs compare as numbers."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def find_inputs(input: str | Path, ignore: Iterable[str | Path] = ()) -> tuple[list[Clip], list[dict]]:
    """The clips under ``input`` and the files that are none, with the reason.

    ``input`` is a file (a clip, else :class:`DatasetError`) or a folder walked recursively (hidden
    entries ignored, symlinked folders followed, each real folder once: a link back to a folder
    already walked, a loop, is listed and not entered again). Each file is taken by what it holds, not
    by its extension: a still image (Pillow) is a frame of its folder's frame clip, an animated image
    (GIF, animated WebP or PNG: Pillow) or a file in which PyAV (FFmpeg) finds a video stream (mp4,
    mov, mkv, webm, avi, MPEG-PS .mpg/.vob, MPEG-TS .ts/.mts/.m2ts, ...) is a clip; anything else
    (audio, cover art only, text, ...) is returned in the second list as
    ``{"source": path relative to input, "reason": why it is no clip}``. ``ignore``: files left out
    of that list (the labels CSV). Raises :class:`DatasetError` when there is no clip at all."""
    root = Path(input)
    if root.is_file():
        kind, reason = probe_file(root)
        if kind in (None, "image"):
            raise DatasetError(
                f"{root} is not a video ({reason or 'a still image'}); pass a video file, an animated "
                "image, a folder of them or a folder of frame folders"
            )
        return [Clip(root, root.name, kind)], []
    if not root.is_dir():
        raise FileNotFoundError(f"--input {root}: no such file or folder")
    ignored = {os.path.realpath(p) for p in ignore}
    clips, others = [], []
    seen = {os.path.realpath(root)}
    for folder, dirs, files in os.walk(root, followlinks=True):
        folder = Path(folder)
        rel = folder.relative_to(root)
        keep = []
        for d in sorted((d for d in dirs if not d.startswith(".")), key=_natural_key):
            real = os.path.realpath(folder / d)
            if real in seen:
                others.append(
                    {
                        "source": (rel / d).as_posix(),
                        "reason": f"a link to {real}, a folder already read (a link loop or a second "
                        "link to it); not read twice",
                    }
                )
                continue
            seen.add(real)
            keep.append(d)
        dirs[:] = keep
        frames = []
        for f in sorted((f for f in files if not f.startswith(".")), key=_natural_key):
            path = folder / f
            if os.path.realpath(path) in ignored:
                continue
            kind, reason = ("image", "") if f.lower().endswith(FRAME_EXTENSIONS) else probe_file(path)
            if kind == "image":
                frames.append(path)
            elif kind is not None:
                clips.append(Clip(path, (rel / f).as_posix(), kind))
            else:
                others.append({"source": (rel / f).as_posix(), "reason": reason})
        if frames:
            source = root.name if rel == Path(".") else rel.as_posix()
            clips.append(Clip(folder, source, "frames", tuple(frames)))
    clips.sort(key=lambda c: _natural_key(c.source))
    others.sort(key=lambda o: _natural_key(o["source"]))
    if not clips:
        listed = "; ".join(f"{o['source']}: {o['reason']}" for o in others[:5])
        raise DatasetError(
            f"no clips in {root}: expected videos (any container FFmpeg reads), animated images (GIF, "
            "WebP) or folders of frame images" + (f"; the files there are none: {listed}" if listed else "")
        )
    return clips, others


def probe_file(path: Path) -> tuple[str | None, str]:
    """What ``path`` holds: ``("video" | "gif" | "image", "")`` (a PyAV video, an animated image read
    by Pillow, a still image) or ``(None, reason)``. A file with a video extension that does not open
    is still a "video" clip (it is reported as unreadable when decoded, as a damaged video)."""
    if not path.is_file():
        return None, "a broken link" if path.is_symlink() else "not a regular file"
    pil_reason = av_reason = ""
    try:
        with Image.open(path) as image:
            if image.format == "GIF" or getattr(image, "n_frames", 1) > 1:
                return "gif", ""
            image_format = image.format if image.format != "MPEG" else None  # raw MPEG-1: a video
    except Exception as e:  # not an image Pillow knows
        pil_reason = _reason(e)
        image_format = None
    if image_format is not None:
        return "image", ""
    try:
        with _av().open(str(path)) as container:
            if container.format.name in NOT_VIDEO_FORMATS:
                av_reason = f"read by FFmpeg as {container.format.name!r}, not a video"
            else:
                streams = [s for s in container.streams.video if not _is_cover_art(s)]
                if streams:
                    return "video", ""
                has_audio = bool(container.streams.audio)
                cover = bool(container.streams.video)
                av_reason = (
                    "audio with cover art, no video stream"
                    if cover
                    else ("audio only, no video stream" if has_audio else "no video stream")
                )
    except ImportError:
        av_reason = "PyAV is not installed (pip install 'dsvae[video]')"
    except Exception as e:
        av_reason = _reason(e)
    if path.suffix.lower() in VIDEO_EXTENSIONS and "no video stream" not in av_reason:
        return "video", ""
    if "no video stream" in av_reason or "not a video" in av_reason:
        return None, av_reason
    return None, f"neither a video (FFmpeg: {av_reason}) nor an image (Pillow: {pil_reason})"


def _is_cover_art(stream) -> bool:
    try:
        import av

        return bool(stream.disposition & av.stream.Disposition.attached_pic)
    except (ImportError, AttributeError):
        return False


# --- decoding -----------------------------------------------------------------------------------------
def _av():
    try:
        import av
    except ImportError as e:
        raise ImportError(
            "importing videos needs PyAV (FFmpeg's libraries): pip install 'dsvae[video]'"
        ) from e
    return av


def _reason(e: Exception) -> str:
    """One line from a decoder's exception (keep the first and last lines of a long log)."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    if not lines:
        return type(e).__name__
    if len(lines) == 1:
        return f"{type(e).__name__}: {lines[0]}"
    return f"{type(e).__name__}: {lines[0]} ... {lines[-1]}"


def _gif_ms(frame: Image.Image) -> int:
    ms = frame.info.get("duration") or 0
    return ms if ms > 10 else GIF_DEFAULT_MS


def clip_fps(clip: Clip) -> float | None:
    """The clip's nominal frames per second (a video's average rate, a GIF's first frame; None for
    frame folders). Only a summary for ``meta.json``: frame times come from :func:`decode_frames`."""
    if clip.kind == "frames":
        return None
    try:
        if clip.kind == "gif":
            with Image.open(clip.path) as image:
                fps = 1000.0 / _gif_ms(image)
        else:
            with _av().open(str(clip.path)) as container:
                if not container.streams.video:
                    raise UnreadableClip("no video stream")
                rate = container.streams.video[0].average_rate
                fps = float(rate) if rate else None
    except UnreadableClip:
        raise
    except Exception as e:  # any decoder failure: the clip is skipped, not the import
        raise UnreadableClip(_reason(e)) from e
    return fps if fps is not None and math.isfinite(fps) and fps > 0 else None


def decode_frames(clip: Clip, shown: dict | None = None) -> Iterator[tuple[np.ndarray, float]]:
    """The clip's frames one at a time: (RGB uint8 ``(H, W, 3)``, time in seconds). Every decoded
    frame once, with its own time (a video frame's presentation timestamp, the summed durations of
    a GIF's frames before it; NaN for frame folders), as a player shows it (:func:`_video_frames`).
    ``shown``, if given, is filled with how a video's stored frames were turned into shown ones
    and what its container declares (see :func:`_video_frames`), and for every kind with
    ``alpha`` (the pixel format or image mode of an alpha channel composited over
    :data:`~dsvae.data.images.BACKGROUND`) and ``transparent_frames`` (how many frames had a pixel
    that is not opaque). Decoder failures, display properties that cannot be applied and an alpha
    channel that cannot be decoded become :class:`UnreadableClip`."""
    shown = {} if shown is None else shown
    if clip.kind == "frames":
        for f in clip.frame_files:
            try:
                frame = read_rgb8(f, shown)
            except Exception as e:  # one bad frame makes the whole clip unreadable
                raise UnreadableClip(f"{f.name}: {_reason(e)}") from e
            yield frame, math.nan
        return
    frames = _gif_frames(clip.path, shown) if clip.kind == "gif" else _video_frames(clip.path, shown)
    while True:
        try:
            frame = next(frames)
        except StopIteration:
            return
        except UnreadableClip:
            raise
        except Exception as e:
            raise UnreadableClip(_reason(e)) from e
        yield frame


def _gif_frames(path: Path, shown: dict | None = None) -> Iterator[tuple[np.ndarray, float]]:
    with Image.open(path) as image:
        ms = 0
        for frame in ImageSequence.Iterator(image):
            yield to_rgb8(frame, shown), ms / 1000.0
            ms += _gif_ms(frame)


# what a player does with a frame's tags on an ordinary (sRGB, SDR) screen: the colour matrix and
# range are applied by the conversion to RGB (swscale reads them from the frame); these transfer
# curves and primaries need tone or gamut mapping, which dsvae does not do, so such clips are refused
SDR_TRANSFERS = {1: "bt709", 2: "unspecified", 4: "gamma22 (bt470m)", 5: "gamma28 (bt470bg)"}
SDR_TRANSFERS |= {6: "smpte170m", 7: "smpte240m", 13: "sRGB (iec61966-2-1)", 14: "bt2020-10", 15: "bt2020-12"}
HDR_TRANSFERS = {8: "linear", 9: "log100", 10: "log316", 11: "xvYCC (iec61966-2-4)", 12: "bt1361e"}
HDR_TRANSFERS |= {16: "PQ (SMPTE ST 2084, HDR10)", 17: "SMPTE ST 428-1", 18: "HLG (ARIB STD-B67)"}
SRGB_PRIMARIES = {1: "bt709", 2: "unspecified", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m"}
WIDE_PRIMARIES = {9: "bt2020", 10: "smpte428 (CIE XYZ)", 11: "DCI-P3 (smpte431)", 12: "Display P3 (smpte432)"}
# what meta["display"] records of each video (the rest of decode_frames' ``shown`` goes elsewhere)
DISPLAY_KEYS = ("stored", "shown", "sample_aspect_ratio", "rotation", "color_range", "color_matrix")
DISPLAY_KEYS += ("transfer", "primaries")
RANGES = {0: "unspecified (limited)", 1: "limited (tv)", 2: "full (pc)"}
MATRICES = {0: "rgb", 1: "bt709", 2: "unspecified", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m"}
MATRICES |= {9: "bt2020nc", 10: "bt2020c"}
TO_SDR = (
    "convert it to SDR bt709 first, e.g. ffmpeg -i IN -vf zscale=t=linear:npl=100,format=gbrpf32le,"
    "zscale=p=bt709,tonemap=hable,zscale=t=bt709:m=bt709:r=tv,format=yuv420p OUT.mp4"
)


def _display_refusal(frame) -> str | None:
    """Why the frame cannot be shown as a player shows it on an sRGB screen, or None."""
    trc, prim = int(frame.color_trc), int(frame.color_primaries)
    if trc not in SDR_TRANSFERS:
        name = HDR_TRANSFERS.get(trc, f"code {trc}")
        return f"transfer curve {name}: an HDR/non-sRGB curve needs tone mapping, not done here; {TO_SDR}"
    if prim not in SRGB_PRIMARIES:
        name = WIDE_PRIMARIES.get(prim, f"code {prim}")
        return f"colour primaries {name}: a wide gamut needs gamut mapping, not done here; {TO_SDR}"
    return None


# VP8/VP9 in WebM/Matroska keep the alpha channel as a second picture beside each frame (Matroska
# BlockAdditional), announced by the track tag alpha_mode=1: FFmpeg's native vp8/vp9 decoders drop it
# (they give yuv420p frames of the colours under the transparent pixels), libvpx's decoders read it
LIBVPX_DECODERS = {"vp8": "libvpx", "vp9": "libvpx-vp9"}
AVFMT_NOTIMESTAMPS = 0x0080  # FFmpeg's flag of raw streams: no timestamps, so no duration to trust
# frames declared but not decoded that are not yet a cut file (an edit list may hide one)
DECLARED_SLACK_FRAMES = 1


def _has_alpha(fmt) -> bool:
    """Whether a PyAV video format carries an alpha channel (yuva420p, yuva444p12le, rgba, ...)."""
    return fmt is not None and any(c.is_alpha for c in fmt.components)


def _alpha_refusal(announced: str, codec: str) -> str:
    decoder = f"-c:v {LIBVPX_DECODERS[codec]} " if codec in LIBVPX_DECODERS else ""
    return (
        f"an alpha channel ({announced}) that this PyAV's FFmpeg does not decode (its {codec} frames "
        "come without it), so the colours hidden under transparent pixels would be stored; composite "
        f"it over {BACKGROUND} first, e.g. ffmpeg {decoder}-i IN -vf premultiply=inplace=1,"
        "format=yuv420p OUT.mp4"
    )


def _alpha_decoder(stream):
    """``(codec context, what announces an alpha channel or "")`` for ``stream``: its own decoder,
    or libvpx's for VP8/VP9 tagged alpha_mode=1 (FFmpeg's native ones drop the alpha). Raises
    :class:`UnreadableClip` when that alpha cannot be decoded by the installed PyAV's FFmpeg."""
    ctx = stream.codec_context
    tags = {str(k).lower(): str(v).strip() for k, v in stream.metadata.items()}
    if tags.get("alpha_mode") == "1":
        announced = "the WebM/Matroska track tag alpha_mode=1"
        if ctx.name not in LIBVPX_DECODERS:
            return ctx, announced  # the first frame shows whether the decoder gives the alpha
        try:
            return _av().codec.CodecContext.create(LIBVPX_DECODERS[ctx.name], "r"), announced
        except Exception as e:  # a PyAV built without libvpx
            raise UnreadableClip(f"{_alpha_refusal(announced, ctx.name)} ({_reason(e)})") from e
    if _has_alpha(ctx.format):
        return ctx, f"pixel format {ctx.format.name}"
    return ctx, ""


def _declared_length(container, stream) -> dict:
    """What the container declares of the video's length, to be checked against what decodes:
    ``{"declared_frames": n}`` (a frame count: the mp4/mov, avi and ivf headers, Matroska's
    NUMBER_OF_FRAMES tag), else ``{"declared_seconds": end time, "declared_of": "video"}`` (the video
    stream's start + duration, or its Matroska/WebM DURATION tag) or ``{..., "declared_of": "file"}``
    (only the whole file's duration, the longest of its streams), else ``{}`` (raw streams without
    timestamps declare nothing; their duration would be a guess from the bit rate)."""
    # FFmpeg names a Matroska tag of a language other than "und" NAME-lang (mkvmerge: NUMBER_OF_FRAMES-eng)
    tags = {str(k).lower().split("-")[0]: str(v).strip() for k, v in stream.metadata.items()}
    if stream.frames and stream.frames > 0:
        return {"declared_frames": int(stream.frames)}
    if tags.get("number_of_frames", "").isdigit() and int(tags["number_of_frames"]) > 0:
        return {"declared_frames": int(tags["number_of_frames"])}
    if container.format.flags & AVFMT_NOTIMESTAMPS or stream.start_time is None:
        return {}
    if stream.duration and stream.duration > 0 and stream.time_base:
        end = (stream.start_time + stream.duration) * stream.time_base
        return {"declared_seconds": float(end), "declared_of": "video"}
    match = re.fullmatch(r"(\d+):(\d\d):(\d\d(?:\.\d+)?)", tags.get("duration", ""))
    if match:
        h, m, sec = match.groups()
        return {"declared_seconds": int(h) * 3600 + int(m) * 60 + float(sec), "declared_of": "video"}
    if container.duration and container.duration > 0:
        return {"declared_seconds": container.duration / 1e6, "declared_of": "file"}
    return {}


def _packet_end(packet) -> float:
    """The time in seconds at which a demuxed packet ends (-inf when it has no timestamp)."""
    ts = packet.pts if packet.pts is not None else packet.dts
    if ts is None or not packet.time_base:
        return -math.inf
    return float((ts + max(packet.duration or 0, 0)) * packet.time_base)


def _video_frames(path: Path, shown: dict | None = None) -> Iterator[tuple[np.ndarray, float]]:
    """A video's frames as a player shows them: converted to RGB with the frame's colour matrix and
    range, an alpha channel composited over black (:func:`~dsvae.data.images.composite_over_background`;
    VP8/VP9 alpha in WebM decoded with libvpx), stretched to the display aspect (the pixel aspect
    ratio, ``sample_aspect_ratio``: the short side is stretched, so no stored pixel is lost) and
    turned as the display matrix says. Transfer curves and primaries other than SDR sRGB-like ones,
    and an alpha channel that the installed FFmpeg does not decode, are refused (:class:`UnreadableClip`).

    ``shown`` is filled with what the container declares of the length (:func:`_declared_length`),
    once the last frame is decoded ``decoded_seconds`` (the end of the last frame, or with
    ``declared_of="file"`` of the last packet of any stream) and ``frame_seconds`` (a frame's
    duration), ``stored`` and ``shown`` sizes [w, h], ``sample_aspect_ratio`` ("n:d"), ``rotation``
    (degrees counter-clockwise), ``color_range``, ``color_matrix``, ``transfer``, ``primaries`` and,
    for an alpha channel, ``alpha`` (its pixel format) and ``transparent_frames``."""
    shown = {} if shown is None else shown
    with _av().open(str(path)) as container:
        streams = [s for s in container.streams.video if not _is_cover_art(s)]
        if not streams:
            raise UnreadableClip("no video stream")
        stream = streams[0]
        stream.thread_type = "AUTO"
        decoder, alpha = _alpha_decoder(stream)
        rate = float(stream.average_rate) if stream.average_rate else math.nan
        shown.update(_declared_length(container, stream))
        sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
        sar = Fraction(sar) if sar and sar > 0 else Fraction(1)
        i, time, duration, file_end = 0, math.nan, math.nan, -math.inf
        # every stream's packets are read (they are read anyway), so that the file's declared
        # duration can be compared with what the whole file holds
        for packet in container.demux():
            file_end = max(file_end, _packet_end(packet))
            if packet.stream.index != stream.index:
                continue
            for frame in decoder.decode(packet):
                if i == 0:
                    refusal = _display_refusal(frame)
                    if not refusal and alpha and not _has_alpha(frame.format):
                        refusal = _alpha_refusal(alpha, stream.codec_context.name)
                    if refusal:
                        raise UnreadableClip(refusal)
                if _has_alpha(frame.format) or frame.format.has_palette:  # a palette may be transparent
                    rgba = frame.to_ndarray(format="rgba")
                    if _has_alpha(frame.format) or (rgba[..., 3] < 255).any():
                        pixels = composite_over_background(rgba, shown, frame.format.name)
                    else:
                        pixels = np.ascontiguousarray(rgba[..., :3])
                else:
                    pixels = frame.to_ndarray(format="rgb24")
                h, w = pixels.shape[:2]
                if sar != 1:
                    size = (round(w * sar), h) if sar > 1 else (w, round(h / sar))
                    pixels = np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.LANCZOS))
                turns = round((frame.rotation or 0) / 90) % 4  # counter-clockwise, as players turn it
                if turns:
                    pixels = np.ascontiguousarray(np.rot90(pixels, turns))
                if i == 0:
                    shown.update(
                        stored=[w, h],
                        shown=[pixels.shape[1], pixels.shape[0]],
                        sample_aspect_ratio=f"{sar.numerator}:{sar.denominator}",
                        rotation=90 * turns,
                        color_range=RANGES.get(int(frame.color_range), str(int(frame.color_range))),
                        color_matrix=MATRICES.get(int(frame.colorspace), str(int(frame.colorspace))),
                        transfer=SDR_TRANSFERS[int(frame.color_trc)],
                        primaries=SRGB_PRIMARIES[int(frame.color_primaries)],
                    )
                previous = time
                time = float(frame.time) if frame.time is not None else i / rate
                if frame.duration and frame.time_base:
                    duration = float(frame.duration * frame.time_base)
                elif math.isfinite(rate):
                    duration = 1.0 / rate
                elif math.isfinite(previous):
                    duration = time - previous
                i += 1
                yield pixels, time
        if i and math.isfinite(time):
            end = time + (duration if math.isfinite(duration) else 0.0)
            shown["decoded_seconds"] = max(end, file_end) if shown.get("declared_of") == "file" else end
            shown["frame_seconds"] = 1.0 / rate if math.isfinite(rate) else duration


def resample(
    frames: Iterable[tuple[int, float, np.ndarray]], fps: float
) -> Iterator[tuple[int, float, np.ndarray]]:
    """``(index, time, frame)`` in time order -> the same at the fixed times ``t0 + k / fps`` (t0: the
    first frame's time, up to the last frame's time): each tick takes the frame a player shows
    then, the last one whose time is not after it (repeated over pauses, skipped when frames come
    faster). Frames without a time (NaN) cannot be resampled: :class:`UnreadableClip`."""
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    shown = None
    t0, k = 0.0, 0
    for index, time, frame in frames:
        if not math.isfinite(time):
            raise UnreadableClip(
                f"frame {index} has no timestamp (a frame folder?), so it cannot be resampled"
            )
        if shown is None:
            t0 = time
        while shown is not None and t0 + k / fps < time - 1e-6:
            yield shown[0], t0 + k / fps, shown[1]
            k += 1
        shown = (index, frame)
        last = time
    if shown is not None and t0 + k / fps <= last + 1e-6:
        yield shown[0], t0 + k / fps, shown[1]


def fit_frame(frame: np.ndarray, size: int, fit: str = "crop") -> np.ndarray:
    """RGB ``(H, W, 3)`` -> ``(size, size, 3)`` keeping the aspect ratio: centre crop or black pad."""
    image = Image.fromarray(frame)
    w, h = image.size
    if fit == "crop":
        side = min(w, h)
        box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
        image = image.resize((size, size), Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)
        return np.asarray(image)
    scale = size / max(w, h)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    canvas = Image.new("RGB", (size, size))
    canvas.paste(
        image.resize((new_w, new_h), Image.Resampling.LANCZOS, reducing_gap=3.0),
        ((size - new_w) // 2, (size - new_h) // 2),
    )
    return np.asarray(canvas)


def cut_sequences(
    frames: Iterable[np.ndarray],
    T: int,
    stride: int,
    frame_step: int = 1,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """``(index of the first frame in frames, (T, ...) sequence)`` for sequences of T frames taken
    every ``frame_step``-th frame, consecutive sequences starting ``stride`` sampled frames apart.
    Holds at most T frames; ``transform`` (the resize) runs only on frames that enter a sequence."""
    window: deque[np.ndarray] = deque(maxlen=T)
    for i, frame in enumerate(frames):
        j, off = divmod(i, frame_step)  # j: index among the sampled frames
        if off or j % stride >= T:  # not sampled, or in the gap between two sequences
            continue
        window.append(frame if transform is None else transform(frame))
        first = j - T + 1
        if first >= 0 and first % stride == 0:
            yield first * frame_step, np.stack(window)


# --- labels -------------------------------------------------------------------------------------------
def read_labels_csv(
    path: str | Path, sources: list[str], others: dict[str, str] | None = None, missing: str = "error"
) -> tuple[dict[str, dict[str, int]], dict[str, list[str]]]:
    """Labels per source from a CSV with a ``file`` column (the path relative to --input, as in the
    ``source`` column; names match in any Unicode normal form, as macOS writes accented names
    decomposed) and one column per label. Returns ``{label: {source: class id}}`` and the value
    names per label (sorted; class id = position).

    Every source needs a row; a row whose file is not among ``sources`` (``others``: source -> why
    that file is no clip) raises :class:`DatasetError` naming each, or with ``missing="warn"`` is
    listed in a warning and left out."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--labels {path}: no such file")
    by_source: dict[str, dict[str, str]] = {}
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        columns = [c.strip() for c in reader.fieldnames or []]
        # csv.DictReader keeps only the last of two equal column names: refuse rather than lose one
        repeated = [c for k, c in enumerate(columns) if c in columns[:k]]
        if repeated:
            twice = ", ".join(repr(c) for c in dict.fromkeys(repeated))
            raise DatasetError(
                f"{path}: the header names column {twice} more than once (header: {','.join(columns)}); "
                "give every column its own name"
            )
        if "" in columns:
            raise DatasetError(
                f"{path}: header column {columns.index('') + 1} has no name (header: {','.join(columns)}); "
                "name it or remove it (a trailing comma?)"
            )
        if "file" not in columns:
            raise DatasetError(
                f"{path} has no 'file' column (columns: {columns}); the first line must be a header "
                "like 'file,action,person'"
            )
        for raw in reader:
            if None in raw:
                raise DatasetError(f"{path} line {reader.line_num}: more values than header columns")
            row = {k.strip(): (v or "").strip() for k, v in raw.items()}
            if not row["file"]:
                raise DatasetError(f"{path} line {reader.line_num}: no file name")
            source = _name_key(PurePosixPath(row["file"].replace("\\", "/")).as_posix())
            if source in by_source:
                raise DatasetError(f"{path} line {reader.line_num}: {source!r} is listed twice")
            by_source[source] = row
    names = [c for c in columns if c != "file"]
    if not names:
        raise DatasetError(f"{path} has no label column: add columns after 'file' (e.g. 'file,action')")
    keys = {_name_key(s) for s in sources}
    unmatched = [row["file"] for key, row in by_source.items() if key not in keys]
    if unmatched:
        _labels_not_imported(path, unmatched, others or {}, missing)
    by_source = {s: by_source[_name_key(s)] for s in sources if _name_key(s) in by_source}
    missing = [s for s in sources if s not in by_source]
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise DatasetError(
            f"{path} has no row for {len(missing)} of the {len(sources)} input files: {shown}; "
            "the 'file' column holds paths relative to --input"
        )
    values: dict[str, list[str]] = {}
    labels: dict[str, dict[str, int]] = {}
    for name in names:
        empty = [s for s in sources if not by_source[s].get(name)]
        if empty:
            raise DatasetError(f"{path}: column {name!r} is empty for {', '.join(empty[:10])}")
        values[name] = sorted({by_source[s][name] for s in sources})
        ids = {v: k for k, v in enumerate(values[name])}
        labels[name] = {s: ids[by_source[s][name]] for s in sources}
    return labels, values


LABELS_MISSING = ("error", "warn")


def _labels_not_imported(path: Path, files: list[str], others: dict[str, str], missing: str) -> None:
    """A labels CSV lists ``files`` that are not imported: error, or (``missing="warn"``) a warning."""
    reasons = {_name_key(k): v for k, v in others.items()}
    shown = "; ".join(f"{f} ({reasons.get(_name_key(f), 'not found under --input')})" for f in files[:10]) + (
        f" and {len(files) - 10} more" if len(files) > 10 else ""
    )
    n = len(files)
    text = f"{path} lists {n} file{'s' * (n != 1)} that {'are' if n != 1 else 'is'} not imported: {shown}"
    if missing == "warn":
        _warn(f"{text}; their rows are left out (--labels-missing warn)")
        return
    raise DatasetError(
        f"{text}. Fix the 'file' column or the files, or pass --labels-missing warn (labels_missing="
        "'warn') to import the rest and list these as warnings"
    )


def _name_key(name: str) -> str:
    """A file name as compared: "café" typed (NFC) and "café" as macOS stores it (NFD) are one."""
    return unicodedata.normalize("NFC", name)


# --- the split ----------------------------------------------------------------------------------------
def split_by_source(sources: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, str]:
    """int8 split (1 = test): whole sources, seeded; a single source is split in time (its last
    sequences are the test set). Returns the split and how it was made ("source" or "time")."""
    n = len(sources)
    split = np.zeros(n, dtype=np.int8)
    names = sorted(set(sources.tolist()))
    if test_fraction <= 0 or n < 2:
        return split, "source"
    if len(names) == 1:
        split[n - min(n - 1, max(1, round(n * test_fraction))) :] = 1
        return split, "time"
    n_test = min(len(names) - 1, max(1, round(len(names) * test_fraction)))
    order = np.random.default_rng(seed).permutation(len(names))
    test = [names[k] for k in order[:n_test]]
    split[np.isin(sources, test)] = 1
    return split, "source"


# --- the import ---------------------------------------------------------------------------------------
def _warn(message: str) -> None:
    tqdm.write(f"warning: {message}", file=sys.stderr)


def _note(message: str) -> None:
    tqdm.write(f"note: {message}", file=sys.stderr)


class _Counted:
    """Decoded frames passed through as ``(index, time, frame)``, counted, hashed (``sha256``: the
    frames as shown, their shapes and pixels, not their times: a copy, a link or a re-encode to
    identical frames hash the same) and moving the progress bar."""

    def __init__(self, frames: Iterator[tuple[np.ndarray, float]], bar: tqdm) -> None:
        self.frames = frames
        self.bar = bar
        self.n = 0
        self._digest = hashlib.sha256()

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def __iter__(self) -> Iterator[tuple[int, float, np.ndarray]]:
        for frame, time in self.frames:
            self.n += 1
            self._digest.update(repr(frame.shape).encode())
            self._digest.update(np.ascontiguousarray(frame).data)
            self.bar.update()
            yield self.n - 1, time, frame


def _shortfall(source: str, shown: dict, n: int) -> tuple[dict, str] | None:
    """``(record for meta["truncated"], message)`` when a video decoded to less than its container
    declares (:func:`_declared_length`): fewer frames than its frame count, or an end earlier than
    its duration, by more than :data:`DECLARED_SLACK_FRAMES` frame; else None."""
    declared = shown.get("declared_frames")
    if declared is not None:
        if n >= declared - DECLARED_SLACK_FRAMES:
            return None
        record = {"source": source, "declared_frames": declared, "decoded_frames": n}
        return record, f"{source} decoded to {n} of the {declared} frames its container declares"
    seconds, got, step = (shown.get(k) for k in ("declared_seconds", "decoded_seconds", "frame_seconds"))
    if seconds is None or got is None or step is None or not math.isfinite(step):
        return None
    # half a frame more than the frame-count slack: timestamps are rounded by the container
    if seconds - got <= (DECLARED_SLACK_FRAMES + 0.5) * step:
        return None
    of = "for the video" if shown.get("declared_of") == "video" else "(its longest stream)"
    record = {
        "source": source,
        "declared_seconds": round(seconds, 6),
        "decoded_seconds": round(got, 6),
        "decoded_frames": n,
        "expected_frames": round(n + (seconds - got) / step),
    }
    message = (
        f"{source} decoded to {got:.2f} s ({n} frames) of the {seconds:.2f} s its container declares "
        f"{of} (about {record['expected_frames']} frames at {1 / step:.4g} fps)"
    )
    return record, message


def _same_files(clips: list[Clip]) -> list[tuple[Clip, Clip]]:
    """``(clip, the clip it is the same file as)`` for every clip that is a file already listed
    under another name (a symbolic or hard link: the same device and inode). The one kept of each
    group is a real file before a link, then the first in name order."""
    groups: dict[tuple[int, int], list[Clip]] = {}
    for clip in clips:
        if clip.kind != "frames":  # a frame folder is read once by the walk itself
            st = os.stat(clip.path)
            groups.setdefault((st.st_dev, st.st_ino), []).append(clip)
    pairs = []
    for group in groups.values():
        kept, *others = sorted(group, key=lambda c: (c.path.is_symlink(), _natural_key(c.source)))
        pairs += [(other, kept) for other in others]
    return pairs


def _label_conflict(labels: dict[str, dict[str, int]], values: dict[str, list[str]], a: str, b: str) -> str:
    """How the labels of sources ``a`` and ``b`` differ ("" when they agree)."""
    return "; ".join(
        f"{name} {values[name][ids[a]]!r} vs {values[name][ids[b]]!r}"
        for name, ids in labels.items()
        if ids[a] != ids[b]
    )


class _Track:
    """The frames given to the cutter, remembering each one's decoded index and time."""

    def __init__(self, frames: Iterable[tuple[int, float, np.ndarray]]) -> None:
        self.frames = frames
        self.index: list[int] = []
        self.time: list[float] = []

    def __iter__(self) -> Iterator[np.ndarray]:
        for index, time, frame in self.frames:
            self.index.append(index)
            self.time.append(time)
            yield frame


def _check_import_options(
    size: int, T: int, stride: int, frame_step: int, fps, fit: str, test_fraction: float, labels_missing: str
) -> None:
    """Raise ValueError for an option of :func:`import_videos` out of its range."""
    for name, value in (("size", size), ("T", T), ("stride", stride), ("frame_step", frame_step)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number of frames per second, got {fps}")
    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}, got {fit!r}")
    if not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction must lie in [0, 1), got {test_fraction}")
    if labels_missing not in LABELS_MISSING:
        raise ValueError(f"labels_missing must be one of {LABELS_MISSING}, got {labels_missing!r}")


class _Import:
    """What :func:`import_videos` gathers clip by clip: each stored sequence's source, first frame
    and frame times, and the records of meta.json (skipped, short, cut-short, duplicate clips, how
    each video's frames were shown, alpha channels)."""

    def __init__(self, T, stride, frame_step, fps, labels_by_source, label_values, labels_csv) -> None:
        self.T, self.stride, self.frame_step, self.fps = T, stride, frame_step, fps
        self.labels_by_source, self.label_values, self.labels_csv = labels_by_source, label_values, labels_csv
        self.seq_source: list[str] = []
        self.seq_start: list[int] = []
        self.seq_times: list[list[float]] = []
        self.fps_of: dict[str, float | None] = {}
        self.skipped: list[dict] = []
        self.short: list[dict] = []
        self.truncated: list[dict] = []
        self.display: dict[str, dict] = {}
        self.alpha: dict[str, dict] = {}
        self.duplicates: list[dict] = []
        self.by_frames: dict[str, Clip] = {}  # sha256 of the decoded frames -> the clip imported with them
        self.decoded = 0

    def same_clip(self, clip: Clip, kept: Clip, how: str) -> None:
        """``clip`` is ``kept`` under another name: refused on conflicting labels, else noted."""
        why = (
            f"one file on disk, {os.path.realpath(kept.path)}"
            if how == "path"
            else "their decoded frames are identical"
        )
        conflict = _label_conflict(self.labels_by_source, self.label_values, kept.source, clip.source)
        if conflict:
            raise DatasetError(
                f"{kept.source} and {clip.source} are the same clip ({why}) but {self.labels_csv} gives "
                f"them different labels ({conflict}): give both rows the same labels (the clip is then "
                "imported once), or remove one of the two files and its row"
            )
        self.duplicates.append({"source": clip.source, "same_as": kept.source, "by": how})
        _note(f"{clip.source} is the same clip as {kept.source} ({why}): imported once, as {kept.source}")

    def _drop_since(self, writer: FramesWriter, before: int) -> None:
        """The clip goes whole or not at all: forget the sequences it gave after ``before``."""
        writer.truncate(before)
        del self.seq_source[before:], self.seq_start[before:], self.seq_times[before:]

    def add(self, clip: Clip, writer: FramesWriter, bar, transform, skip_truncated: bool) -> None:
        """Decode ``clip``, cut its sequences into ``writer`` and record what happened to it."""
        before, shown = writer.count, {}
        frames = _Counted(decode_frames(clip, shown), bar)
        track = _Track(frames if self.fps is None else resample(frames, self.fps))
        try:
            clip_rate = clip_fps(clip)
            for first, seq in cut_sequences(track, self.T, self.stride, self.frame_step, transform):
                positions = range(first, first + self.T * self.frame_step, self.frame_step)
                writer.append(seq)
                self.seq_source.append(clip.source)
                self.seq_start.append(track.index[first])
                self.seq_times.append([track.time[p] for p in positions])
            cut = _shortfall(clip.source, shown, frames.n)
            if cut is not None:
                self.truncated.append(cut[0])
                message = f"{cut[1]}: the file is cut short (an interrupted download or copy?)"
                if skip_truncated:
                    raise UnreadableClip(f"{message}; --skip-truncated")
                _warn(f"{message}; its {frames.n} frames are used (--skip-truncated skips it)")
        except UnreadableClip as e:
            self._drop_since(writer, before)
            self.skipped.append({"source": clip.source, "reason": str(e)})
            _warn(f"skipped {clip.source}: {e}")
            return
        if frames.n and frames.sha256 in self.by_frames:
            self._drop_since(writer, before)  # imported once: the sequences of the first copy stay
            self.same_clip(clip, self.by_frames[frames.sha256], "frames")
            return
        self.by_frames.setdefault(frames.sha256, clip)
        self.decoded += frames.n
        self.fps_of[clip.source] = clip_rate
        if "stored" in shown:
            self.display[clip.source] = {k: shown[k] for k in DISPLAY_KEYS}
        if "alpha" in shown:
            self.alpha[clip.source] = {
                "channel": shown["alpha"],
                "transparent_frames": shown["transparent_frames"],
            }
        if frames.n == 0:
            self.skipped.append({"source": clip.source, "reason": "no frames"})
            _warn(f"skipped {clip.source}: no frames")
        elif writer.count == before:
            sampled = -(-len(track.index) // self.frame_step)
            self.short.append({"source": clip.source, "frames": frames.n, "sampled": sampled})
            rate = f", resampled to {self.fps:g} fps" if self.fps is not None else ""
            _warn(
                f"{clip.source}: {sampled} sampled frames ({frames.n} frames{rate}, frame step "
                f"{self.frame_step}) is shorter than T={self.T}; no sequence taken"
            )

    def counts(self, found: int, not_clips: int, sequences: int) -> dict:
        return {
            "files": found,
            "used": len(set(self.seq_source)),
            "skipped": len(self.skipped),
            "short": len(self.short),
            "truncated": len(self.truncated),
            "duplicates": len(self.duplicates),
            "not_clips": not_clips,
            "frames": self.decoded,
            "sequences": sequences,
        }

    def summarise(self, input: Path, n_clips: int, sequences: int) -> None:
        """The warnings and notes of the whole import; raises DatasetError when no sequence was cut."""
        skipped, short = self.skipped, self.short
        if skipped or short:
            _warn(
                f"{len(skipped)} of {n_clips} files skipped (unreadable or empty), "
                f"{len(short)} shorter than T={self.T} sampled frames"
            )
        if self.alpha:
            names = list(self.alpha)
            _note(
                f"{len(names)} of {n_clips} clips have an alpha channel, composited over {BACKGROUND} as "
                f"a player shows them ({', '.join(names[:5])}{' ...' if len(names) > 5 else ''}; "
                "meta.json alpha)"
            )
        if sequences == 0:
            raise DatasetError(
                f"no sequence of T={self.T} frames in {input} ({n_clips} files: {len(skipped)} unreadable, "
                f"{len(short)} too short); nothing written. Check the files, or lower --T / --frame-step"
            )

    def records(self, not_clips: list[dict]) -> dict:
        """meta.json's records of the import (the order they had before)."""
        return {
            "skipped": self.skipped,
            "short": self.short,
            "truncated": self.truncated,
            "not_clips": not_clips,
            "display": self.display,
            # transparent pixels show the background, never the colour stored under them
            "alpha": {"background": BACKGROUND, "composited": self.alpha},
            "duplicates": self.duplicates,
        }


def import_videos(
    input: str | Path,
    out: str | Path,
    *,
    size: int = 64,
    T: int = 8,
    stride: int | None = None,
    frame_step: int = 1,
    fps: float | None = None,
    fit: str = "crop",
    labels_csv: str | Path | None = None,
    test_fraction: float = 0.1,
    seed: int = 0,
    force: bool = False,
    labels_missing: str = "error",
    skip_truncated: bool = False,
) -> SequenceDataset:
    """Import the clips under ``input`` (see :func:`find_inputs`) into the dataset folder ``out``.

    Sequences: T frames of ``size x size`` RGB, every ``frame_step``-th decoded frame of the clip
    (or, with ``fps``, of the clip resampled to that fixed rate: :func:`resample`), consecutive
    sequences ``stride`` sampled frames apart (default T: no overlap). Info columns: ``source`` (path
    relative to ``input``), ``start_frame`` (index of the first frame among the decoded frames),
    ``frame_time`` ``(N, T)`` (each stored frame's time in seconds; NaN for frame folders) and
    ``start_time`` (its first column). Labels come from ``labels_csv`` (see :func:`read_labels_csv`).
    Unreadable files (and, with ``fps``, frame folders: they have no times) are reported, skipped
    and counted in ``meta["counts"]`` / ``meta["skipped"]``; clips shorter than T sampled frames in
    ``meta["short"]``; the files that are no clip (with the reason) in ``meta["not_clips"]``. A video
    decoded to less than its container declares (fewer frames than its frame count, or, where it
    declares a duration instead (Matroska, WebM, ...), an earlier end: a cut download) is warned
    about and listed in ``meta["truncated"]``; ``skip_truncated`` skips it. How each video's stored
    frames became the frames shown (pixel aspect, rotation, colour tags) is in ``meta["display"]``;
    the clips whose alpha channel was composited over black (videos, GIFs, frame images alike) in
    ``meta["alpha"]``. A labels row whose file is not imported (no clip, unreadable, skipped) is an
    error, or with ``labels_missing="warn"`` a listed warning.

    The same clip under two names (a link to a file: the same device and inode; or a copy or
    re-encode: the same decoded frames, sha256) is imported once, under the first name (a real file
    before a link, then name order), with a note and a ``meta["duplicates"]`` record, so that it can
    never be in both the training and the test split; when ``labels_csv`` gives the two names
    different labels, :class:`DatasetError` names both and nothing is written.

    Raises ``ValueError`` for bad options, :class:`DatasetError` when no sequence can be cut or for
    duplicates with conflicting labels (nothing is written) and ``FileExistsError`` for an existing
    ``out`` without ``force``.
    """
    stride = T if stride is None else stride
    _check_import_options(size, T, stride, frame_step, fps, fit, test_fraction, labels_missing)
    input = Path(input)
    clips, not_clips = find_inputs(input, ignore=[labels_csv] if labels_csv else [])
    for o in not_clips:
        _warn(f"not read {o['source']}: {o['reason']}")
    labels_by_source, label_values = (
        read_labels_csv(
            labels_csv,
            [c.source for c in clips],
            {o["source"]: o["reason"] for o in not_clips},
            labels_missing,
        )
        if labels_csv
        else ({}, {})
    )
    found = len(clips)
    run = _Import(T, stride, frame_step, fps, labels_by_source, label_values, labels_csv)
    for clip, kept in _same_files(clips):  # before any decoding: a conflict costs nothing
        run.same_clip(clip, kept, "path")
    linked = {d["source"] for d in run.duplicates}
    clips = [c for c in clips if c.source not in linked]
    if any(c.kind == "video" for c in clips):
        _av()
    with (
        atomic_dataset_dir(out, force=force) as tmp,
        FramesWriter(tmp / "frames.npy", (T, size, size, 3)) as writer,
    ):
        with progress(unit="frame", desc="importing", dynamic_ncols=True) as bar:
            for k, clip in enumerate(clips):
                bar.set_description(f"file {k + 1}/{len(clips)}")
                run.add(clip, writer, bar, lambda frame: fit_frame(frame, size, fit), skip_truncated)
        if labels_by_source:
            labelled = next(iter(labels_by_source.values()))
            lost = [s["source"] for s in run.skipped if s["source"] in labelled]
            if lost:
                reasons = {s["source"]: s["reason"] for s in run.skipped}
                _labels_not_imported(Path(labels_csv), lost, reasons, labels_missing)
        counts = run.counts(found, len(not_clips), writer.count)
        run.summarise(input, len(clips), writer.count)
        frames_shape = writer.finish()
        sources = np.array(run.seq_source)
        frame_time = np.array(run.seq_times, dtype=np.float64).reshape(len(run.seq_times), T)
        split, split_by = split_by_source(sources, test_fraction, seed)
        labels = {name: np.array([ids[s] for s in run.seq_source]) for name, ids in labels_by_source.items()}
        counts.update(train=int((split == 0).sum()), test=int((split == 1).sum()))
        options = dict(size=size, T=T, stride=stride, frame_step=frame_step, resample_fps=fps)
        meta = {
            "name": input.stem if input.is_file() else input.name,
            "source": str(input.resolve()),
            **options,
            "timestamps": "each decoded frame's own (video pts, GIF durations); NaN for frame folders"
            if fps is None
            else f"resampled to {fps:g} fps: the frame shown at each tick",
            "fit": fit,
            "fps": run.fps_of,
            "labels_csv": str(Path(labels_csv).resolve()) if labels_csv else None,
            "split_by": split_by,
            "test_fraction": test_fraction,
            "seed": seed,
            "counts": counts,
            **run.records(not_clips),
        }
        columns = {
            "source": sources,
            "start_frame": np.array(run.seq_start, dtype=np.int64),
            "start_time": frame_time[:, 0],
            "frame_time": frame_time,
        }
        write_columns(
            tmp, labels, label_values, split, columns, meta, frames_shape=frames_shape, frames_dtype="uint8"
        )
    return SequenceDataset.open(out)
