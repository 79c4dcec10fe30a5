"""Speech out: spectrograms and voice conversion of a speech run, as WAV files and PNG pictures.

A speech run's sequences are segments cut from recordings (log-mel frames, ``(T, D)``); a
recording is put back together by averaging the segments that overlap (:func:`overlap_average`)
and made audible by Griffin-Lim (:meth:`dsvae.data.speech.SpeechFeatures.to_audio`). Voice
conversion decodes one recording's z with another speaker's f (:func:`voice_conversion`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from .._io import atomic_file
from ..data.base import SequenceDataset
from ..run import TrainedRun
from .grids import heatmap, upscale

SPEECH_COLUMNS = ("utterance", "start_frame", "recording_frames")  # info columns of speech data
CAPTION_H = 16  # pixels above each spectrogram of the voice conversion sheet, for its caption


def overlap_average(segments: np.ndarray, starts: np.ndarray, n_frames: int) -> np.ndarray:
    """Segments ``(S, T, D)`` cut from one recording at frames ``starts`` (S,) -> the recording
    ``(n_frames, D)``, each frame the mean of the segments that cover it (frames past ``n_frames``
    were padding)."""
    S, T, D = segments.shape
    total = np.zeros((max(int(starts.max()) + T, n_frames), D))
    count = np.zeros((len(total), 1))
    for seg, s in zip(segments, starts):
        total[s : s + T] += seg
        count[s : s + T] += 1
    return (total / np.maximum(count, 1))[:n_frames]


def spectrogram_image(log_mel: np.ndarray, vmin: float, vmax: float, scale: int = 4) -> Image.Image:
    """Log-mel ``(n_frames, n_mels)`` -> a PIL image ``(n_mels * scale) x (n_frames * scale)`` pixels,
    time to the right, low frequencies at the bottom, [vmin, vmax] spread over the colour map."""
    rgb = upscale(heatmap(log_mel, (vmin, vmax)), scale)
    return Image.fromarray(np.ascontiguousarray(rgb), "RGB")


def _utterance_segments(ds: SequenceDataset, utterance: str) -> np.ndarray:
    """Positions of the utterance's segments in ``ds``, in time order. Raises ValueError for an
    utterance ``ds`` does not hold."""
    pos = np.flatnonzero(ds.info_array("utterance") == utterance)
    if len(pos) == 0:
        raise ValueError(
            f"no test utterance {utterance!r}; e.g. {', '.join(np.unique(ds.info_array('utterance'))[:3])}"
        )
    return pos[np.argsort(ds.info_array("start_frame")[pos], kind="stable")]


def _speech_test_split(run: TrainedRun, speaker: str) -> SequenceDataset:
    """The run's test split, after checking that it holds speech recordings: vector frames, the
    recordings' columns (:data:`SPEECH_COLUMNS`), the ``speaker`` label and the feature parameters.
    Raises ValueError saying what is missing."""
    if run.model.config.is_video:
        raise ValueError("voice conversion needs a speech run (vector frames: dsvae train --preset speech)")
    test = run.test
    name = test.meta.get("name", "the dataset")
    missing = [c for c in SPEECH_COLUMNS if c not in test.info]
    if missing:
        raise ValueError(
            f"{name} has no {', '.join(repr(c) for c in missing)} column; build speech data with "
            "`dsvae data fsdd` or `dsvae data timit`"
        )
    if speaker not in test.labels:
        raise ValueError(f"{name} has no {speaker!r} label; labels: {sorted(test.labels)}")
    if "features" not in test.meta:
        raise ValueError("the dataset keeps no feature parameters (meta['features']) to invert; rebuild it")
    return test


def _target_speaker(speakers: list[str], speaker: np.ndarray, source: int, target: str | None) -> int:
    """The index of the speaker to convert to: ``target`` by name, by default the next speaker after
    ``source`` in label order that has test recordings (the first after the last). Raises
    ValueError for an unknown name or a speaker without test recordings."""
    if target is None:
        present = np.unique(speaker)
        later = present[present > source]
        index = int(later[0] if len(later) else present[0])
    elif target in speakers:
        index = speakers.index(target)
    else:
        raise ValueError(f"unknown speaker {target!r}; the speakers are {', '.join(speakers)}")
    if not (speaker == index).any():
        raise ValueError(f"speaker {speakers[index]} has no test recordings to take f from")
    return index


def _recording(test: SequenceDataset, pos: np.ndarray, segments: torch.Tensor) -> np.ndarray:
    """Standardized segments ``(S, T, D)`` of one recording (its positions ``pos`` in time order) ->
    its log-mel features ``(n_frames, D)``."""
    feats = test.denormalize(segments.float()).cpu().numpy()
    n_frames = int(test.info_array("recording_frames")[pos[0]])
    return overlap_average(feats, test.info_array("start_frame")[pos], n_frames)


def _write_examples(
    spectrograms: dict[str, np.ndarray], captions: dict[str, str], features, out_dir: Path, n_iter: int
) -> dict[str, Path]:
    """Each log-mel recording of ``spectrograms`` as NAME.wav (Griffin-Lim, ``n_iter`` iterations,
    peak at 0.9 of full scale) and NAME.png, and voice_conversion.png with them all top to bottom,
    captioned; the colour range is that of the first (1st to 99.5th percentile)."""
    from ..data.speech import write_wav

    vmin, vmax = np.percentile(next(iter(spectrograms.values())), [1, 99.5])
    written, images = {}, []
    for name, log_mel in spectrograms.items():
        audio = features.to_audio(log_mel, n_iter=n_iter)
        audio = 0.9 * audio / max(float(np.abs(audio).max()), 1e-9)
        written[name] = atomic_file(out_dir / f"{name}.wav", lambda p, a=audio: write_wav(p, a, features.sr))
        img = spectrogram_image(log_mel, vmin, vmax)
        written[f"{name}_png"] = atomic_file(
            out_dir / f"{name}.png", lambda p, im=img: im.save(p, format="PNG")
        )
        images.append((captions[name], img))
    width = max(img.width for _, img in images)
    sheet = Image.new("RGB", (width, sum(img.height + CAPTION_H for _, img in images)), "white")
    draw, y = ImageDraw.Draw(sheet), 0
    for caption, img in images:
        draw.text((2, y + 2), caption, fill="black")
        sheet.paste(img, (0, y + CAPTION_H))
        y += img.height + CAPTION_H
    written["sheet"] = atomic_file(out_dir / "voice_conversion.png", lambda p: sheet.save(p, format="PNG"))
    return written


@torch.no_grad()
def voice_conversion(
    run: str | Path | TrainedRun,
    out_dir: str | Path | None = None,
    source: str | None = None,
    target_speaker: str | None = None,
    n_iter: int = 64,
    device: str | torch.device = "cpu",
) -> dict[str, Path]:
    """Decode the z of test recording ``source`` with its own f and with ``target_speaker``'s f, of
    the speech run ``run`` (a run folder or an opened :class:`~dsvae.run.TrainedRun`).

    Writes into ``out_dir`` (default RUN/pictures/voice) a WAV (Griffin-Lim, ``n_iter`` iterations)
    and a spectrogram PNG (:func:`spectrogram_image`) of: ``source`` (the input features), ``own_f``
    (its z with its own f: the reconstruction), ``converted`` (its z with the target speaker's f: the
    mean f over that speaker's test segments) and ``target`` (a test recording of the target
    speaker, with the same digit where there is one), plus ``voice_conversion.png`` with the four
    spectrograms top to bottom. Defaults: the first test recording, and the next speaker in label
    order. Returns name -> path. Raises ValueError for a run that is not speech, an unknown
    recording or speaker."""
    from ..data.speech import SPEAKER, SpeechFeatures

    run = TrainedRun.of(run, device)
    out_dir = Path(out_dir) if out_dir is not None else run.path / "pictures" / "voice"
    model, test = run.model, _speech_test_split(run, SPEAKER)
    utterances = test.info_array("utterance")
    source = str(source if source is not None else np.unique(utterances)[0])
    src_pos = _utterance_segments(test, source)
    speakers, speaker = test.label_values[SPEAKER], test.label_array(SPEAKER)
    src_speaker = int(speaker[src_pos[0]])
    tgt_speaker = _target_speaker(speakers, speaker, src_speaker, target_speaker)
    tgt_all = np.flatnonzero(speaker == tgt_speaker)

    enc = model.encode(test.model_batch(src_pos, device))
    S = len(src_pos)
    own_f = enc.f.mean(0, keepdim=True).expand(S, -1)
    tgt_f = model.encode(test.model_batch(tgt_all, device)).f.mean(0, keepdim=True).expand(S, -1)
    tgt_candidates = tgt_all
    if "digit" in test.labels:
        same_digit = tgt_all[test.label_array("digit")[tgt_all] == test.label_array("digit")[src_pos[0]]]
        tgt_candidates = same_digit if len(same_digit) else tgt_all
    tgt_pos = _utterance_segments(test, str(utterances[tgt_candidates[0]]))

    spectrograms = {
        "source": _recording(test, src_pos, test.model_batch(src_pos)),
        "own_f": _recording(test, src_pos, model.decode(own_f, enc.z)),
        "converted": _recording(test, src_pos, model.decode(tgt_f, enc.z)),
        "target": _recording(test, tgt_pos, test.model_batch(tgt_pos)),
    }
    tgt_name = speakers[tgt_speaker]
    captions = {
        "source": f"{source} (speaker {speakers[src_speaker]}): input",
        "own_f": f"{source}: its z with its own f",
        "converted": f"{source}: its z with the f of {tgt_name}",
        "target": f"{utterances[tgt_pos[0]]} (speaker {tgt_name}): input",
    }
    features = SpeechFeatures.from_dict(test.meta["features"])
    return _write_examples(spectrograms, captions, features, out_dir, n_iter)
