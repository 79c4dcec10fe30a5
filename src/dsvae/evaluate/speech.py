"""Speech runs: speaker verification with f against z, linear probes, and voice conversion.

The paper's test (TIMIT): f should carry the speaker and z what is said. Every test utterance gets
one code per latent: f averaged over its segments (posterior means), z averaged over the frames
and the segments. Speaker verification scores every pair of test utterances by the cosine of their
codes; its equal error rate should be low with f and high (near 50%) with z. Probes (linear and a
small MLP) and DCI, trained on the training utterances' codes, read the speaker and (FSDD) the digit
on the test utterances, as for videos (:mod:`dsvae.evaluate.codes`).

Voice conversion decodes the dynamic codes z of a recording with its own f and with another
speaker's f, and turns both spectrograms into sound by Griffin-Lim.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .._io import atomic_file
from ..data.base import SequenceDataset
from ..data.speech import SpeechFeatures, write_wav
from ..elbo import elbo_terms
from ..model import DSVAE
from ..run import load_model, model_provenance, open_run_dataset, write_metrics
from .codes import encode_means, latent_scores
from .dci import REGRESSORS
from .factors import dataset_factor_kinds
from .markdown import latent_tables
from .verification import cosine_pair_scores, eer

# TIMIT speaker verification EER with f (lower is better) / with z (higher is better): Li & Mandt
# 2018, table 3, and the successors' papers
PAPER_TIMIT_EER = {
    "DSVAE": {"f": 0.0564, "z": 0.1920},
    "C-DSVAE": {"f": 0.0403, "z": 0.3181},
    "DBSE": {"f": 0.0350, "z": 0.3462},
}
SPEAKER = "speaker"


@dataclass
class UtteranceCodes:
    """One code per utterance (rows in the order of ``utterance``)."""

    utterance: np.ndarray  # (U,) ids
    f: np.ndarray  # (U, f_dim): mean over the utterance's segments of q(f)'s mean
    z: np.ndarray  # (U, z_dim): mean over frames and segments of q(z_t)'s mean
    labels: dict[str, np.ndarray]  # name -> (U,) class of each utterance


def _check_speech_run(model: DSVAE, ds: SequenceDataset) -> None:
    cfg = model.config
    if cfg.is_video or ds.kind != "vector":
        raise ValueError(
            "speech evaluation needs a vector-frame model and dataset (dsvae train --preset speech)"
        )
    if (cfg.T,) + cfg.frame_shape != tuple(ds.frames.shape[1:]):
        raise ValueError(
            f"the model takes (T, D) = {(cfg.T,) + cfg.frame_shape}, the run's dataset holds "
            f"{tuple(ds.frames.shape[1:])}; was the dataset rebuilt with other features since training?"
        )
    if "utterance" not in ds.info:
        raise ValueError(
            f"{ds.meta.get('name', 'the dataset')} has no 'utterance' column; build speech data with "
            "`dsvae data fsdd` or `dsvae data timit`"
        )


def utterance_codes(ds: SequenceDataset, f: np.ndarray, z: np.ndarray) -> UtteranceCodes:
    """Average segment codes (:func:`dsvae.evaluate.codes.encode_means`) over each utterance of ``ds``."""
    ids, row = np.unique(ds.info_array("utterance"), return_inverse=True)
    count = np.bincount(row, minlength=len(ids)).astype(np.float64)[:, None]

    def mean_by_utterance(x: np.ndarray) -> np.ndarray:
        out = np.zeros((len(ids), x.shape[1]))
        np.add.at(out, row, x)
        return out / count

    first = np.unique(row, return_index=True)[1]  # an utterance's labels are those of any segment
    labels = {k: ds.label_array(k)[first] for k in ds.labels}
    return UtteranceCodes(ids, mean_by_utterance(f), mean_by_utterance(z.mean(axis=1)), labels)


def evaluate_speech_run(
    run_dir: str | Path,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
    static: Sequence[str] = (),
    dynamic: Sequence[str] = (),
    regressors: Sequence[str] = REGRESSORS,
) -> dict:
    """Speaker EER with f and with z over all pairs of test utterances, DCI and the probes of every
    label from f and from z (:func:`dsvae.evaluate.codes.latent_scores` on utterance codes: the
    speaker is static, the digit dynamic, see :mod:`dsvae.evaluate.factors`), and the test ELBO;
    writes RUN/metrics.json and RUN/metrics.md."""
    run_dir = Path(run_dir)
    model = load_model(run_dir, map_location=device)
    ds = open_run_dataset(run_dir)
    _check_speech_run(model, ds)
    if SPEAKER not in ds.labels:
        raise ValueError(f"the run's dataset has no {SPEAKER!r} label to verify; labels: {sorted(ds.labels)}")
    train, test = ds.subset("train"), ds.subset("test")
    if len(train) == 0 or len(test) == 0:
        raise ValueError(f"need training and test segments, got {len(train)} and {len(test)}")
    codes = {}
    for name, part in (("train", train), ("test", test)):
        codes[name] = utterance_codes(part, *encode_means(model, part, batch_size, device))
    te = codes["test"]

    notes: list[str] = []
    speaker_eer, same = {}, None
    for latent in ("f", "z"):
        scores, same = cosine_pair_scores(getattr(te, latent), te.labels[SPEAKER])
        speaker_eer[latent] = eer(scores, same)
    kinds, rules = dataset_factor_kinds(ds, static, dynamic)
    tr = codes["train"]
    latents = latent_scores(
        {"f": tr.f, "z": tr.z}, tr.labels, {"f": te.f, "z": te.z}, te.labels, kinds, regressors=regressors
    )
    latents["train_sequences"] = len(tr.utterance)
    notes += [f"no DCI or probes of {k}: {why}" for k, why in latents["skipped"].items()]
    probes = latents["probes"]

    metrics = {
        "run": str(run_dir),
        "model": model_provenance(run_dir),
        "kind": "speech",
        "dataset": {
            "name": ds.meta.get("name", "?"),
            "test_segments": len(test),
            "test_utterances": len(te.utterance),
            "train_utterances": len(codes["train"].utterance),
            "test_speakers": int(len(np.unique(te.labels[SPEAKER]))),
            "labels": ds.num_classes,
        },
        "speaker_eer": speaker_eer,
        "pairs": {"same": int(same.sum()), "different": int((~same).sum())},
        "probe": {
            k: {"f": p["from_f"]["linear"], "z": p["from_z"]["linear"], "chance": p["chance"]}
            for k, p in sorted(probes.items())
        },
        "factor_kinds": {k: {"kind": kinds[k], "rule": rules[k]} for k in kinds},
        "latents": latents,
        "reconstruction": elbo_terms(model, test, batch_size, torch.device(device), mse=True),
        "paper_timit_eer": PAPER_TIMIT_EER,
        "notes": notes,
    }
    write_metrics(run_dir, metrics, speech_metrics_table(metrics))
    return metrics


def speech_metrics_table(m: dict) -> str:
    """metrics.json of a speech run as markdown, with the paper's TIMIT figures beside ours."""
    d = m["dataset"]
    lines = [
        f"# Evaluation of {m['run']}",
        "",
        f"Data: {d['name']}, {d['test_utterances']} test utterances ({d['test_segments']} segments) of "
        f"{d['test_speakers']} speakers; {m['pairs']['same']} same-speaker and {m['pairs']['different']} "
        "different-speaker pairs.",
        *[f"Note: {note}." for note in m["notes"]],
        "",
        "## Speaker verification EER (cosine scores over all test utterance pairs)",
        "",
        "| model (data) | EER with f (lower: f is the speaker) | EER with z (higher: z is not) |",
        "| --- | --- | --- |",
        f"| ours ({d['name']}) | {100 * m['speaker_eer']['f']:.2f}% | {100 * m['speaker_eer']['z']:.2f}% |",
        *[
            f"| {name} (paper, TIMIT) | {100 * v['f']:.2f}% | {100 * v['z']:.2f}% |"
            for name, v in m["paper_timit_eer"].items()
        ],
    ]
    r = m["reconstruction"]
    lines += [
        "",
        "## Test ELBO (per segment, summed over frames and mel bins of standardized features)",
        "",
        "| MSE per value | loss (-ELBO) | recon | kl_f | kl_z |",
        "| --- | --- | --- | --- | --- |",
        f"| {r['mse']:.4f} | {r['loss']:.1f} | {r['recon']:.1f} | {r['kl_f']:.1f} | {r['kl_z']:.1f} |",
    ]
    if m.get("latents"):
        lines += latent_tables(m["latents"])
    return "\n".join(lines) + "\n"


# --- voice conversion ------------------------------------------------------------------------------


def overlap_average(segments: np.ndarray, starts: np.ndarray, n_frames: int) -> np.ndarray:
    """Segments (S, T, D) cut from one recording at ``starts`` -> the recording (n_frames, D), each
    frame the mean of the segments that cover it (frames past ``n_frames`` were padding)."""
    S, T, D = segments.shape
    total = np.zeros((max(int(starts.max()) + T, n_frames), D))
    count = np.zeros((len(total), 1))
    for seg, s in zip(segments, starts):
        total[s : s + T] += seg
        count[s : s + T] += 1
    return (total / np.maximum(count, 1))[:n_frames]


# an inferno-like colormap: anchors from black through purple, red and orange to pale yellow
_COLORMAP_ANCHORS = np.array(
    [[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21], [250, 193, 39],
     [252, 255, 164]],
    dtype=np.float64,
)  # fmt: skip


def colormap(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (any shape) -> uint8 RGB (..., 3), linear between the anchors above."""
    pos = np.clip(values, 0.0, 1.0) * (len(_COLORMAP_ANCHORS) - 1)
    lo = np.minimum(pos.astype(np.int64), len(_COLORMAP_ANCHORS) - 2)
    w = (pos - lo)[..., None]
    return np.round((1 - w) * _COLORMAP_ANCHORS[lo] + w * _COLORMAP_ANCHORS[lo + 1]).astype(np.uint8)


def spectrogram_image(log_mel: np.ndarray, vmin: float, vmax: float, scale: int = 4):
    """Log-mel (n_frames, n_mels) -> a PIL image, time to the right, low frequencies at the bottom."""
    from PIL import Image

    rgb = colormap((log_mel.T[::-1] - vmin) / max(vmax - vmin, 1e-9))
    img = Image.fromarray(np.ascontiguousarray(rgb), "RGB")
    return img.resize((img.width * scale, img.height * scale), Image.NEAREST)


def _utterance_segments(ds: SequenceDataset, utterance: str) -> np.ndarray:
    """Positions of the utterance's segments in ``ds``, in time order."""
    pos = np.flatnonzero(ds.info_array("utterance") == utterance)
    if len(pos) == 0:
        raise ValueError(
            f"no test utterance {utterance!r}; e.g. {', '.join(np.unique(ds.info_array('utterance'))[:3])}"
        )
    return pos[np.argsort(ds.info_array("start_frame")[pos], kind="stable")]


@torch.no_grad()
def voice_conversion(
    run_dir: str | Path,
    out_dir: str | Path | None = None,
    source: str | None = None,
    target_speaker: str | None = None,
    n_iter: int = 64,
    device: str | torch.device = "cpu",
) -> dict[str, Path]:
    """Decode the z of test recording ``source`` with its own f and with ``target_speaker``'s f.

    Writes into ``out_dir`` (default RUN/pictures/voice) a WAV (Griffin-Lim, ``n_iter`` iterations)
    and a spectrogram PNG of: ``source`` (the input features), ``own_f`` (its z with its own f: the
    reconstruction), ``converted`` (its z with the target speaker's f: the mean f over that speaker's
    test segments) and ``target`` (a test recording of the target speaker, with the same digit
    where there is one), plus ``voice_conversion.png`` with the four spectrograms top to bottom.
    Defaults: the first test recording, and the next speaker in label order. Returns name -> path."""
    from PIL import Image, ImageDraw

    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir is not None else run_dir / "pictures" / "voice"
    model = load_model(run_dir, map_location=device)
    ds = open_run_dataset(run_dir)
    _check_speech_run(model, ds)
    if "features" not in ds.meta:
        raise ValueError("the dataset keeps no feature parameters (meta['features']) to invert; rebuild it")
    features = SpeechFeatures.from_dict(ds.meta["features"])
    test = ds.subset("test")
    utterances = test.info_array("utterance")
    source = str(source if source is not None else np.unique(utterances)[0])
    src_pos = _utterance_segments(test, source)
    speakers = test.label_values[SPEAKER]
    speaker = test.label_array(SPEAKER)
    src_speaker = int(speaker[src_pos[0]])
    if target_speaker is None:
        present = np.unique(speaker)
        later = present[present > src_speaker]
        tgt_speaker = int(later[0] if len(later) else present[0])
    elif target_speaker in speakers:
        tgt_speaker = speakers.index(target_speaker)
    else:
        raise ValueError(f"unknown speaker {target_speaker!r}; the speakers are {', '.join(speakers)}")
    tgt_all = np.flatnonzero(speaker == tgt_speaker)
    if len(tgt_all) == 0:
        raise ValueError(f"speaker {speakers[tgt_speaker]} has no test recordings to take f from")

    def encode(pos: np.ndarray):
        return model.encode(test.model_batch(pos, device))

    def recording(pos: np.ndarray, segments: torch.Tensor) -> np.ndarray:
        """Standardized segments (S, T, D) of one recording -> its log-mel features (n_frames, D)."""
        feats = test.denormalize(segments.float()).cpu().numpy()
        n_frames = int(test.info_array("recording_frames")[pos[0]])
        return overlap_average(feats, test.info_array("start_frame")[pos], n_frames)

    enc = encode(src_pos)
    S = len(src_pos)
    own_f = enc.f.mean(0, keepdim=True).expand(S, -1)
    tgt_f = encode(tgt_all).f.mean(0, keepdim=True).expand(S, -1)
    tgt_candidates = tgt_all
    if "digit" in test.labels:
        same_digit = tgt_all[test.label_array("digit")[tgt_all] == test.label_array("digit")[src_pos[0]]]
        tgt_candidates = same_digit if len(same_digit) else tgt_all
    tgt_pos = _utterance_segments(test, str(utterances[tgt_candidates[0]]))

    spectrograms = {
        "source": recording(src_pos, test.model_batch(src_pos)),
        "own_f": recording(src_pos, model.decode(own_f, enc.z)),
        "converted": recording(src_pos, model.decode(tgt_f, enc.z)),
        "target": recording(tgt_pos, test.model_batch(tgt_pos)),
    }
    tgt_name = speakers[tgt_speaker]
    captions = {
        "source": f"{source} (speaker {speakers[src_speaker]}): input",
        "own_f": f"{source}: its z with its own f",
        "converted": f"{source}: its z with the f of {tgt_name}",
        "target": f"{utterances[tgt_pos[0]]} (speaker {tgt_name}): input",
    }
    vmin, vmax = np.percentile(spectrograms["source"], [1, 99.5])
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
    sheet = Image.new("RGB", (width, sum(img.height + 16 for _, img in images)), "white")
    draw, y = ImageDraw.Draw(sheet), 0
    for caption, img in images:
        draw.text((2, y + 2), caption, fill="black")
        sheet.paste(img, (0, y + 16))
        y += img.height + 16
    written["sheet"] = atomic_file(out_dir / "voice_conversion.png", lambda p: sheet.save(p, format="PNG"))
    return written
