"""Speech as sequences of spectral frames: log-mel features cut into fixed-length segments.

Features (every value is an option of ``dsvae data fsdd|timit`` and is kept in ``meta["features"]``,
so a spectrogram can be turned back into sound with :meth:`SpeechFeatures.to_audio`):

    sr 8000 Hz (audio is resampled to it), n_fft 256 (a 32 ms Hann window), hop 80 (10 ms),
    64 mel bands from 0 Hz to sr/2 (librosa's Slaney filterbank), power spectrogram,
    x_t = log(mel_t + 1e-6)

Segments: T = 20 frames (200 ms), one starting every ``segment_hop`` = 10 frames, plus one ending at
the last frame so that the tail of a recording is never dropped. A recording shorter than T frames
(FSDD's shortest, 0.14 s, has 15) is padded at the end with its own lowest value (its silence
level) to one segment, rather than lost.

Stored as a :class:`~dsvae.data.base.SequenceDataset`: float32 frames ``(N, T, n_mels)``, label
``speaker`` (and ``digit`` for FSDD), info columns ``utterance`` (one id per recording: average
codes over it), ``source`` (the file), ``start_frame`` (of the segment in its recording) and
``recording_frames`` (the recording's length before padding). ``meta["norm"]`` holds the per-bin
mean and standard deviation of the *training* segments (the model's input standardization).

Sources:
- FSDD (Free Spoken Digit Dataset; 6 speakers, 10 digits, 8 kHz): a local folder, or the public
  repository's archive, downloaded once into a cache. The dataset's own split: recordings with
  index 0-4 are the test set, 5-49 the training set (the same speakers in both: a closed set).
- TIMIT (licensed; users bring their copy): ``TRAIN/`` and ``TEST/``, ``DR1..DR8/<speaker>/<utt>.WAV``
  NIST SPHERE files (read by soundfile's libsndfile), split by speaker as the corpus folders are
  (462 training, 168 test speakers). The test speakers never occur in training (an open set): the
  ``speaker`` label spans all speakers, which speaker verification needs and a speaker probe cannot use.
  Copies that hold both ``X.WAV`` (SPHERE) and ``X.WAV.wav`` (a RIFF conversion) use the first that reads.

Damaged files (empty, truncated, garbage, not audio, no samples, NaN samples) are reported, skipped,
counted and listed in ``meta["skipped"]``; a build is refused only when nothing usable is left.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import io
import re
import sys
import urllib.parse
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
from tqdm import tqdm

from ..progress import progress
from .base import SPLITS, DatasetError, FramesWriter, SequenceDataset, atomic_dataset_dir, write_columns
from .fetch import cache_dir as cache_dir_of
from .fetch import download

SPEAKER = "speaker"  # the label of who speaks (FSDD, TIMIT): static, what f should carry
FSDD_URL = "https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/heads/master.zip"
# what to do when FSDD_URL cannot be downloaded
FSDD_ELSEWHERE = (
    "Get the recordings another way and pass their folder: git clone "
    "https://github.com/Jakobovski/free-spoken-digit-dataset, then "
    "`dsvae data fsdd --root free-spoken-digit-dataset/recordings --out data/fsdd`"
)
FSDD_NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.([A-Za-z0-9]+)$")
# extensions of the formats libsndfile reads, beside its format names (soundfile.available_formats())
AUDIO_EXTENSION_ALIASES = (".aif", ".aifc", ".snd", ".iff", ".mat", ".mpc", ".oga", ".opus", ".sf", ".sph")
AUDIO_EXTENSION_ALIASES += (".wave", ".m1a", ".mpga")
FSDD_TEST_INDICES = range(0, 5)  # the dataset's own split: 0-4 test, 5-49 train
DEFAULT_T = 20
DEFAULT_SEGMENT_HOP = 10
STD_FLOOR = 1e-3  # a mel band that never changes must not blow up the standardized input


def _librosa():
    try:
        import librosa
    except ImportError as e:
        raise ImportError("speech features need librosa and soundfile: pip install 'dsvae[speech]'") from e
    return librosa


def _soundfile():
    try:
        import soundfile
    except ImportError as e:
        raise ImportError("reading audio needs soundfile: pip install 'dsvae[speech]'") from e
    return soundfile


# --- features ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpeechFeatures:
    """Log-mel spectrogram parameters; the same object computes features and inverts them."""

    sr: int = 8000
    n_fft: int = 256
    hop_length: int = 80
    n_mels: int = 64
    fmin: float = 0.0
    fmax: float | None = None  # None: sr / 2
    power: float = 2.0
    log_offset: float = 1e-6

    def __post_init__(self) -> None:
        for name in ("sr", "n_fft", "hop_length", "n_mels"):
            if getattr(self, name) <= 0:
                raise ValueError(f"SpeechFeatures.{name} must be positive, got {getattr(self, name)}")
        if self.hop_length > self.n_fft:
            raise ValueError(f"hop_length {self.hop_length} > n_fft {self.n_fft} would skip samples")
        if self.log_offset <= 0:
            raise ValueError(f"log_offset must be positive (log(mel + offset)), got {self.log_offset}")
        if not 0 <= self.fmin < self.top_hz <= self.sr / 2:
            raise ValueError(f"need 0 <= fmin < fmax <= sr/2 = {self.sr / 2}, got {self.fmin}, {self.fmax}")

    @property
    def top_hz(self) -> float:
        return self.sr / 2 if self.fmax is None else float(self.fmax)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> SpeechFeatures:
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d})

    def log_mel(self, y: np.ndarray) -> np.ndarray:
        """Mono audio at ``sr`` (samples,) -> log-mel frames (n_frames, n_mels) float32."""
        mel = _librosa().feature.melspectrogram(
            y=np.asarray(y, dtype=np.float32),
            sr=self.sr,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            n_mels=self.n_mels,
            fmin=self.fmin,
            fmax=self.top_hz,
            power=self.power,
        )
        return np.log(mel + self.log_offset).T.astype(np.float32)

    def to_audio(self, log_mel: np.ndarray, n_iter: int = 64) -> np.ndarray:
        """Log-mel frames (n_frames, n_mels) -> audio at ``sr`` by Griffin-Lim (phase is estimated)."""
        mel = np.maximum(np.exp(np.asarray(log_mel, dtype=np.float64).T) - self.log_offset, 0.0)
        return (
            _librosa()
            .feature.inverse.mel_to_audio(
                mel,
                sr=self.sr,
                n_fft=self.n_fft,
                hop_length=self.hop_length,
                fmin=self.fmin,
                fmax=self.top_hz,
                power=self.power,
                n_iter=n_iter,
            )
            .astype(np.float32)
        )


def segment_starts(n_frames: int, T: int, hop: int) -> list[int]:
    """Start frames of the T-frame segments of a recording of ``n_frames`` (>= T) frames: every
    ``hop`` frames, plus one ending at the last frame."""
    if n_frames < T:
        raise ValueError(f"a recording of {n_frames} frames holds no {T}-frame segment; pad it first")
    starts = list(range(0, n_frames - T + 1, hop))
    if starts[-1] != n_frames - T:
        starts.append(n_frames - T)
    return starts


def pad_frames(frames: np.ndarray, T: int) -> np.ndarray:
    """(n, D) with n < T -> (T, D), padded at the end with the recording's lowest value (its silence)."""
    if len(frames) >= T:
        return frames
    pad = np.full((T - len(frames), frames.shape[1]), frames.min(), dtype=frames.dtype)
    return np.concatenate([frames, pad])


# --- recordings -> dataset -------------------------------------------------------------------------


@dataclass
class Recording:
    """One audio file of a corpus, read lazily."""

    source: str  # the file, relative to the corpus root
    utterance: str  # one id per recording
    split: int  # 0 train, 1 test
    labels: dict[str, str]  # label name -> class name (speaker, digit)
    info: dict[str, str]  # further string columns (dialect_region, sentence)
    read: Callable[[], tuple[np.ndarray, int]]  # -> samples (samples, channels), sample rate
    fallback: Recording | None = None  # the same recording in another file, read if this one fails


def decode_audio(file: str | Path | bytes, name: str) -> tuple[np.ndarray, int]:
    """A path or a file's bytes -> samples (samples, channels) float32 and the sample rate. Raises
    :class:`DatasetError` naming the file for anything that is not decodable audio with at least one
    sample, all finite (empty, truncated, garbage or foreign files)."""
    sf = _soundfile()
    try:
        data = file if isinstance(file, bytes) else Path(file).read_bytes()  # Python I/O: Ctrl-C works
    except OSError as e:
        raise DatasetError(f"cannot read audio {name}: {e}") from e
    try:
        audio, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError, EOFError) as e:
        hint = (
            " It is a NIST SPHERE file that libsndfile cannot decode (shorten-compressed?): convert it "
            "to PCM first, e.g. `sph2pipe -f wav IN OUT`."
            if data.startswith(b"NIST_1A")
            else ""
        )
        raise DatasetError(f"cannot read audio {name}: {e}.{hint}") from e
    if len(audio) == 0:
        raise DatasetError(f"cannot read audio {name}: it holds no samples")
    if not np.isfinite(audio).all():
        raise DatasetError(f"cannot read audio {name}: it holds NaN or infinite samples")
    return audio, sr


def write_wav(path: str | Path, audio: np.ndarray, sr: int) -> None:
    """Mono float audio in [-1, 1] -> a 16-bit PCM WAV file."""
    _soundfile().write(str(path), np.asarray(audio, dtype=np.float32), sr, format="WAV", subtype="PCM_16")


def _read_features(
    recordings: Sequence[Recording], features: SpeechFeatures, name: str
) -> tuple[list[Recording], list[np.ndarray], list[dict], list[dict]]:
    """The log-mel features (n_frames, n_mels) of every readable recording (through its fallbacks);
    returns (recordings read, their features, skipped records, fallback records). Segments overlap,
    so the features per recording are the smaller copy to hold."""
    feats, used, skipped, fallbacks = [], [], [], []
    for r in progress(recordings, desc=f"{name} features", unit="file"):
        try:
            r, audio, sr, failed = _read_with_fallback(r)
        except DatasetError as e:
            skipped.append({"source": r.source, "reason": str(e)})
            tqdm.write(f"warning: skipped {r.source}: {e}", file=sys.stderr)
            continue
        for source, reason in failed:
            fallbacks.append({"source": source, "used": r.source, "reason": reason})
            tqdm.write(f"warning: {source} unreadable, read {r.source} instead ({reason})", file=sys.stderr)
        used.append(r)
        feats.append(features.log_mel(to_mono(audio, sr, features.sr)))
    return used, feats, skipped, fallbacks


def _segment_columns(recordings: Sequence[Recording], feats: list[np.ndarray], starts: list[list[int]]):
    """The per-segment columns: labels {name: (N,) int64}, label_values, info {name: (N,)} and the
    split (N,) int8, each segment taking its recording's."""
    label_names = sorted({k for r in recordings for k in r.labels})
    label_values = {k: sorted({r.labels[k] for r in recordings}, key=_natural) for k in label_names}
    codes = {k: {v: i for i, v in enumerate(vs)} for k, vs in label_values.items()}
    info_names = sorted({k for r in recordings for k in r.info})
    rows = np.repeat(np.arange(len(recordings)), [len(s) for s in starts])
    labels = {k: np.array([codes[k][recordings[i].labels[k]] for i in rows], np.int64) for k in label_names}
    info = {
        "utterance": np.array([recordings[i].utterance for i in rows]),
        "source": np.array([recordings[i].source for i in rows]),
        "start_frame": np.concatenate([np.asarray(s, np.int64) for s in starts]),
        "recording_frames": np.array([len(feats[i]) for i in rows], np.int64),
        **{k: np.array([recordings[i].info[k] for i in rows]) for k in info_names},
    }
    split = np.array([recordings[i].split for i in rows], np.int8)
    return labels, label_values, info, split


def _write_segments(frames: FramesWriter, recordings, feats, starts, T: int, D: int):
    """Stream every recording's T-frame segments into ``frames``; returns the training segments'
    per-bin sum and sum of squares (float64) and their frame count, for the normalisation."""
    total = np.zeros(D, np.float64)
    total_sq = np.zeros(D, np.float64)
    n_train_frames = 0
    k = 0
    for r, x, ss in zip(recordings, feats, starts):
        x = pad_frames(x, T)
        segments = np.stack([x[s : s + T] for s in ss])  # (segments, T, D)
        frames.write(k, segments.astype(np.float32, copy=False))
        k += len(ss)
        if r.split == SPLITS["train"]:
            total += segments.sum((0, 1), dtype=np.float64)
            total_sq += np.square(segments, dtype=np.float64).sum((0, 1))
            n_train_frames += len(ss) * T
    return total, total_sq, n_train_frames


def write_speech_dataset(
    recordings: Sequence[Recording],
    out: str | Path,
    *,
    name: str,
    features: SpeechFeatures,
    T: int = DEFAULT_T,
    segment_hop: int = DEFAULT_SEGMENT_HOP,
    force: bool = False,
    meta: dict | None = None,
) -> SequenceDataset:
    """Compute the features of every recording, cut them into T-frame segments and write the
    dataset folder ``out`` atomically (frames are streamed into frames.npy by
    :class:`~dsvae.data.base.FramesWriter`).

    A recording that cannot be read (:func:`decode_audio` raises :class:`DatasetError`) is read from
    its ``fallback`` if it has one, else reported, skipped and listed in ``meta["skipped"]``
    (``meta["counts"]``: files, used, skipped; ``meta["fallbacks"]``: files read in place of
    another; ``meta["file_kinds"]``: files per extension found and used). Raises :class:`DatasetError`
    when no recording, or no training recording, is left."""
    if T < 1 or segment_hop < 1:
        raise ValueError(f"T and segment_hop must be positive, got T={T}, segment_hop={segment_hop}")
    if not recordings:
        raise DatasetError(f"no recordings to build {name} from (is the root folder or the pattern right?)")
    if not any(r.split == SPLITS["train"] for r in recordings):
        raise DatasetError(
            f"{name}: no training recordings, so no normalization statistics; check the filter"
        )
    out = Path(out)
    if out.exists() and not force:  # refuse before minutes of feature extraction, not after
        raise FileExistsError(f"{out} exists; pass --force (force=True) to replace it")

    used, feats, skipped, fallbacks = _read_features(recordings, features, name)
    counts = {"files": len(recordings), "used": len(used), "skipped": len(skipped)}
    every = [f.source for r in recordings for f in _with_fallbacks(r)]
    kinds = {"found": file_kinds(every), "used": file_kinds([r.source for r in used])}
    if skipped:
        tqdm.write(
            f"warning: {len(skipped)} of {len(recordings)} files skipped (unreadable)", file=sys.stderr
        )
    if not any(r.split == SPLITS["train"] for r in used):
        raise DatasetError(
            f"{name}: no readable {'training ' if used else ''}recording left ({len(skipped)} of "
            f"{len(recordings)} files unreadable, e.g. {skipped[0]['reason'] if skipped else '-'}); nothing "
            "written. Check the files"
        )
    recordings = used
    starts = [segment_starts(max(len(x), T), T, segment_hop) for x in feats]
    labels, label_values, info, split = _segment_columns(recordings, feats, starts)
    D = features.n_mels
    with (
        atomic_dataset_dir(out, force=force) as tmp,
        FramesWriter(tmp / "frames.npy", (T, D), np.float32, count=sum(len(s) for s in starts)) as frames,
    ):
        total, total_sq, n_train_frames = _write_segments(frames, recordings, feats, starts, T, D)
        frames_shape = frames.finish()
        mean = total / n_train_frames
        std = np.maximum(np.sqrt(np.maximum(total_sq / n_train_frames - mean**2, 0.0)), STD_FLOOR)
        full_meta = {
            "name": name,
            **(meta or {}),
            "features": features.to_dict(),
            "segments": {"T": T, "hop": segment_hop, "pad": "end, with the recording's lowest value"},
            "recordings": len(recordings),
            "counts": counts,
            "file_kinds": kinds,  # files per extension: found (fallbacks too) and read
            "skipped": skipped,
            "fallbacks": fallbacks,
            "norm": {"mean": mean.tolist(), "std": std.tolist()},  # of the training segments
        }
        write_columns(
            tmp,
            labels,
            label_values,
            split,
            info,
            full_meta,
            frames_shape=frames_shape,
            frames_dtype="float32",
        )
    return SequenceDataset.open(out)


def _read_with_fallback(r: Recording) -> tuple[Recording, np.ndarray, int, list[tuple[str, str]]]:
    """The first of ``r`` and its fallbacks that reads: (that recording, samples, rate, the
    (source, reason) of each that failed before it). Raises the first :class:`DatasetError` if none reads."""
    failed: list[tuple[str, str]] = []
    candidate: Recording | None = r
    while candidate is not None:
        try:
            audio, sr = candidate.read()
            return candidate, audio, sr, failed
        except DatasetError as e:
            failed.append((candidate.source, str(e)))
            candidate = candidate.fallback
    raise DatasetError("; ".join(reason for _, reason in failed))


def _with_fallbacks(r: Recording | None) -> Iterator[Recording]:
    while r is not None:
        yield r
        r = r.fallback


def to_mono(audio: np.ndarray, sr: int, target_sr: int) -> np.ndarray:
    """Decoded samples (samples,) or (samples, channels) -> mono float32 at ``target_sr``."""
    y = np.asarray(audio, dtype=np.float32)
    if y.ndim == 2:
        y = y.mean(axis=1)
    if sr != target_sr:
        y = _librosa().resample(y, orig_sr=sr, target_sr=target_sr)
    return y


def _natural(s: str):
    """Sort "2" before "10" (digits), names alphabetically."""
    return (0, int(s), "") if s.isdigit() else (1, 0, s)


# --- FSDD ------------------------------------------------------------------------------------------


def audio_extensions() -> frozenset[str]:
    """Lower-case extensions (".wav", ".flac", ".ogg", ".mp3", ...) of every format this soundfile's
    libsndfile reads (header-less RAW left out: it needs its layout given)."""
    formats = {f".{name.lower()}" for name in _soundfile().available_formats()} - {".raw"}
    return frozenset(formats | set(AUDIO_EXTENSION_ALIASES))


def is_audio_name(name: str) -> bool:
    """Whether a file name ends in the extension of a format soundfile reads, in any letter case."""
    return PurePosixPath(name).suffix.lower() in audio_extensions()


def _matches(name: str, pattern: str) -> bool:
    """fnmatch in any letter case: "*.wav" matches X.WAV, as on the file systems of Windows and macOS."""
    return fnmatch.fnmatchcase(name.lower(), pattern.lower())


def _fsdd_recording(name: str, read: Callable[[], tuple[np.ndarray, int]]) -> Recording:
    m = FSDD_NAME.match(name)
    if not m:
        raise DatasetError(
            f"{name} is not an FSDD recording ({{digit}}_{{speaker}}_{{index}}.wav, or another audio "
            "extension); point --root at FSDD's recordings/ folder, or narrow --pattern"
        )
    digit, speaker, index = m.group(1), m.group(2), int(m.group(3))
    split = SPLITS["test"] if index in FSDD_TEST_INDICES else SPLITS["train"]
    utterance = name[: -len(m.group(4)) - 1]
    return Recording(name, utterance, split, {SPEAKER: speaker, "digit": digit}, {}, read)


def _one_per_utterance(recordings: list[Recording]) -> list[Recording]:
    """The same recording in two files (0_ann_3.wav and 0_ann_3.flac): the first (by name) is read,
    the others are its fallbacks (read if it fails, listed in meta["fallbacks"])."""
    first: dict[str, Recording] = {}
    for r in recordings:
        if r.utterance not in first:
            first[r.utterance] = r
        else:
            last = first[r.utterance]
            while last.fallback is not None:
                last = last.fallback
            last.fallback = r
    return list(first.values())


def fsdd_recordings(
    root: str | Path | None = None,
    *,
    pattern: str = "*",
    cache_dir: str | Path | None = None,
    url: str = FSDD_URL,
) -> list[Recording]:
    """FSDD's recordings whose file names match ``pattern`` (in any letter case): every file with
    the extension of a format soundfile reads (:func:`audio_extensions`: .wav, .WAV, .flac, .ogg,
    ...), from ``root`` (the recordings/ folder or a clone of the repository), or else from the
    repository archive at ``url``, downloaded once into ``cache_dir`` (default
    :func:`~dsvae.data.fetch.cache_dir`) and read without unpacking. One recording in two formats is read
    once (the others are its fallbacks). Raises :class:`DatasetError` for an audio file not named
    as FSDD names them, and when nothing matches."""
    if root is not None:
        root = Path(root)
        folder = root / "recordings" if (root / "recordings").is_dir() else root
        if not folder.is_dir():
            raise FileNotFoundError(
                f"no FSDD folder at {root}; pass the recordings/ folder of a clone of "
                "https://github.com/Jakobovski/free-spoken-digit-dataset, or no --root to download it"
            )
        files = sorted(p for p in folder.iterdir() if is_audio_name(p.name) and _matches(p.name, pattern))
        if not files:
            kinds = Counter(p.suffix or "(none)" for p in folder.iterdir() if p.is_file())
            raise DatasetError(
                f"no recordings in {folder} matching {pattern!r} with an audio extension soundfile reads "
                f"({', '.join(sorted(audio_extensions()))}); the files there: "
                f"{_kinds_text(kinds) or 'none'}"
            )
        return _one_per_utterance(
            [_fsdd_recording(p.name, functools.partial(decode_audio, p, str(p))) for p in files]
        )

    cache = Path(cache_dir) if cache_dir is not None else cache_dir_of()
    archive = download(
        url, cache / f"fsdd-{Path(urllib.parse.urlparse(url).path).name}", advice=FSDD_ELSEWHERE
    )
    if not zipfile.is_zipfile(archive):
        raise DatasetError(f"{archive} is not a zip archive; delete it and run again to download it anew")
    recordings = []
    with zipfile.ZipFile(archive) as zf:
        for member in sorted(zf.namelist()):
            parts = member.split("/")
            name = parts[-1]
            if (
                len(parts) >= 2
                and parts[-2] == "recordings"
                and _matches(name, pattern)
                and is_audio_name(name)
            ):
                data = zf.read(member)
                recordings.append(_fsdd_recording(name, functools.partial(decode_audio, data, member)))
    if not recordings:
        raise DatasetError(
            f"{archive} holds no recordings/ audio files matching {pattern!r}; is it FSDD's archive?"
        )
    return _one_per_utterance(recordings)


def _kinds_text(kinds: Counter) -> str:
    """{".wav": 3, ".WAV": 2} -> "3 .wav, 2 .WAV"."""
    return ", ".join(f"{n} {k}" for k, n in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0])))


def file_kinds(sources: Sequence[str]) -> dict[str, int]:
    """How many files of each extension (as written: .WAV and .wav apart), most first."""
    kinds = Counter(PurePosixPath(s).suffix or "(none)" for s in sources)
    return dict(sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0])))


def build_fsdd(
    root: str | Path | None,
    out: str | Path,
    force: bool = False,
    *,
    pattern: str = "*",
    features: SpeechFeatures | None = None,
    T: int = DEFAULT_T,
    segment_hop: int = DEFAULT_SEGMENT_HOP,
    cache_dir: str | Path | None = None,
    url: str = FSDD_URL,
) -> SequenceDataset:
    """The Free Spoken Digit Dataset as a dataset folder ``out``: labels ``speaker`` and ``digit``,
    the dataset's own split (index 0-4 test). ``root=None`` downloads the archive (see
    :func:`fsdd_recordings`)."""
    recordings = fsdd_recordings(root, pattern=pattern, cache_dir=cache_dir, url=url)
    return write_speech_dataset(
        recordings,
        out,
        name="fsdd",
        features=features or SpeechFeatures(),
        T=T,
        segment_hop=segment_hop,
        force=force,
        meta={
            "source": str(Path(root).resolve()) if root is not None else url,
            "pattern": pattern,
            "split": "recording index 0-4 test, 5-49 train (the dataset's own; same speakers in both)",
        },
    )


# --- TIMIT -----------------------------------------------------------------------------------------


def _child_dir(folder: Path, name: str) -> Path | None:
    """The sub-folder ``name`` of ``folder`` in any letter case (TRAIN, train, Train)."""
    for p in folder.iterdir():
        if p.is_dir() and p.name.lower() == name:
            return p
    return None


def _timit_base(root: Path) -> Path:
    """The folder that holds TRAIN/ and TEST/: ``root`` itself or one folder below (TIMIT/, data/)."""
    if not root.is_dir():
        raise FileNotFoundError(f"no TIMIT folder at {root}")
    for base in [root, *sorted(p for p in root.iterdir() if p.is_dir())]:
        if _child_dir(base, "train") and _child_dir(base, "test"):
            return base
    raise DatasetError(
        f"{root} does not look like TIMIT: expected TRAIN/ and TEST/ (any case) holding "
        "DR1..DR8/<speaker>/<utterance>.WAV, in it or in one folder below it"
    )


def timit_recordings(root: str | Path) -> list[Recording]:
    """Every utterance of a TIMIT copy in the standard layout, split by the TRAIN/TEST folders."""
    base = _timit_base(Path(root))
    recordings = []
    for split_name, split in SPLITS.items():
        split_dir = _child_dir(base, split_name)
        regions = sorted(
            p for p in split_dir.iterdir() if p.is_dir() and re.fullmatch(r"dr\d", p.name.lower())
        )
        for region in regions:
            for speaker_dir in sorted(p for p in region.iterdir() if p.is_dir()):
                speaker = speaker_dir.name.upper()
                files: dict[str, list[Path]] = {}
                for f in sorted(p for p in speaker_dir.iterdir() if p.name.lower().endswith(".wav")):
                    # some copies hold both SA1.WAV (SPHERE) and a converted SA1.WAV.wav: one
                    # recording, read from the first file and from the other if that one fails
                    files.setdefault(f.name.split(".")[0].upper(), []).append(f)
                for sentence, paths in files.items():
                    recording = None
                    for f in reversed(paths):
                        recording = Recording(
                            str(f.relative_to(base)),
                            f"{speaker}/{sentence}",
                            split,
                            {"speaker": speaker},
                            {"dialect_region": region.name.upper(), "sentence": sentence},
                            functools.partial(decode_audio, f, str(f)),
                            fallback=recording,
                        )
                    recordings.append(recording)
    if not recordings:
        raise DatasetError(f"no DR*/<speaker>/*.WAV files under {base}/TRAIN and {base}/TEST")
    return recordings


def build_timit(
    root: str | Path,
    out: str | Path,
    force: bool = False,
    *,
    features: SpeechFeatures | None = None,
    T: int = DEFAULT_T,
    segment_hop: int = DEFAULT_SEGMENT_HOP,
) -> SequenceDataset:
    """A licensed TIMIT copy as a dataset folder ``out``: label ``speaker`` over all speakers (the
    test speakers are unseen in training: an open set), info ``dialect_region``, ``sentence``,
    ``utterance``; the corpus' own TRAIN/TEST split."""
    recordings = timit_recordings(root)
    return write_speech_dataset(
        recordings,
        out,
        name="timit",
        features=features or SpeechFeatures(),
        T=T,
        segment_hop=segment_hop,
        force=force,
        meta={
            "source": str(Path(root).resolve()),
            "split": "the corpus' TRAIN/TEST folders (disjoint speakers: an open set)",
        },
    )
