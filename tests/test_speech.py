import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("librosa")
sf = pytest.importorskip("soundfile")

from dsvae import DSVAE, DSVAEConfig  # noqa: E402
from dsvae.cli import main  # noqa: E402
from dsvae.data import DatasetError, SequenceDataset  # noqa: E402
from dsvae.data.speech import (  # noqa: E402
    SpeechFeatures,
    build_fsdd,
    build_timit,
    pad_frames,
    segment_starts,
)
from dsvae.evaluate.speech import evaluate_speech_run  # noqa: E402
from dsvae.run import read_metrics_markdown  # noqa: E402
from dsvae.viz import overlap_average, voice_conversion  # noqa: E402

FSDD = Path(__file__).resolve().parents[2] / "shared" / "fsdd" / "recordings"
SPEAKERS = {"ann": 140.0, "bob": 260.0}  # pitch of each synthetic speaker


def voice(seconds: float, pitch: float, digit: int, sr: int = 8000) -> np.ndarray:
    """A synthetic utterance: harmonics of the speaker's pitch under a formant that moves with the digit."""
    t = np.arange(int(seconds * sr)) / sr
    formant = 500.0 + 300.0 * digit + 800.0 * t / seconds * (1 if digit % 2 else -1)
    y = sum(
        np.sin(2 * np.pi * k * pitch * t) * np.exp(-(((k * pitch - formant) / 400.0) ** 2))
        for k in range(1, 20)
    )
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


def write_fsdd_folder(folder: Path, indices=range(7), digits=(0, 1)) -> Path:
    """FSDD-named synthetic recordings; index 0 lasts 0.1 s (10 frames, shorter than a segment)."""
    folder.mkdir(parents=True, exist_ok=True)
    for speaker, pitch in SPEAKERS.items():
        for digit in digits:
            for i in indices:
                seconds = 0.1 if i == 0 else 0.25 + 0.05 * i
                sf.write(
                    folder / f"{digit}_{speaker}_{i}.wav",
                    voice(seconds, pitch, digit),
                    8000,
                    subtype="PCM_16",
                )
    return folder


@pytest.fixture(scope="module")
def fsdd_folder(tmp_path_factory) -> Path:
    return write_fsdd_folder(tmp_path_factory.mktemp("fsdd") / "recordings")


@pytest.fixture(scope="module")
def speech_run(tmp_path_factory, fsdd_folder) -> Path:
    """A run folder as `dsvae train` leaves it (untrained weights): model/ and train.json."""
    base = tmp_path_factory.mktemp("run")
    build_fsdd(fsdd_folder, base / "data")
    cfg = DSVAEConfig.preset(
        "speech", f_dim=4, z_dim=2, hidden_dim=8, mlp_hidden=(16,), feature_dim=8, factorized_hidden=8
    )
    DSVAE(cfg).save(base / "run" / "model")
    (base / "run" / "train.json").write_text(json.dumps({"data": str(base / "data")}))
    return base / "run"


# --- features and segments ---------------------------------------------------------------------------


def test_features_shapes_params_and_inversion():
    feats = SpeechFeatures()
    assert (feats.sr, feats.n_fft, feats.hop_length, feats.n_mels, feats.top_hz) == (8000, 256, 80, 64, 4000)
    y = voice(0.5, 200.0, 3)
    x = feats.log_mel(y)
    assert x.shape == (1 + 4000 // 80, 64) and x.dtype == np.float32  # centred frames: 1 + samples // hop
    assert x.min() >= np.log(feats.log_offset) - 1e-4
    assert SpeechFeatures.from_dict(feats.to_dict()) == feats
    audio = feats.to_audio(x, n_iter=4)
    assert abs(len(audio) - len(y)) <= feats.hop_length
    # Griffin-Lim estimates the phase: the spectrogram comes back, up to small errors
    assert np.corrcoef(feats.log_mel(audio).ravel(), x.ravel())[0, 1] > 0.95
    with pytest.raises(ValueError, match="fmax"):
        SpeechFeatures(fmax=6000)
    with pytest.raises(ValueError, match="hop_length"):
        SpeechFeatures(n_fft=64, hop_length=80)


def test_segments_every_hop_and_one_at_the_end():
    assert segment_starts(44, 20, 10) == [0, 10, 20, 24]
    assert segment_starts(40, 20, 10) == [0, 10, 20]
    assert segment_starts(20, 20, 10) == [0]
    x = np.arange(30, dtype=np.float32).reshape(10, 3)
    padded = pad_frames(x, 20)
    assert padded.shape == (20, 3)
    np.testing.assert_array_equal(padded[:10], x)
    assert (padded[10:] == x.min()).all()
    segs = np.stack([np.arange(20.0)[s : s + 4, None] for s in (0, 2, 4)])
    np.testing.assert_allclose(overlap_average(segs, np.array([0, 2, 4]), 7)[:, 0], np.arange(7.0))


# --- FSDD ------------------------------------------------------------------------------------------


@pytest.mark.skipif(not FSDD.is_dir(), reason=f"FSDD recordings not found at {FSDD}")
def test_build_fsdd_from_real_recordings(tmp_path):
    ds = build_fsdd(FSDD, tmp_path / "fsdd", pattern="[01]_*_[3-6].wav")
    assert ds.kind == "vector" and ds.frames.shape[1:] == (20, 64) and ds.frames.dtype == np.float32
    assert ds.meta["recordings"] == 2 * 6 * 4
    assert ds.label_values["digit"] == ["0", "1"] and len(ds.label_values["speaker"]) == 6
    index = np.array([int(Path(s).stem.split("_")[2]) for s in ds.info["source"]])
    np.testing.assert_array_equal(ds.split, (index <= 4).astype(np.int8))  # the dataset's own split
    # the first segment of a recording is its first 20 log-mel frames
    first = np.flatnonzero((ds.info["source"] == "0_george_5.wav") & (ds.info["start_frame"] == 0))[0]
    y, sr = sf.read(FSDD / "0_george_5.wav", dtype="float32")
    np.testing.assert_allclose(ds.frames[first], SpeechFeatures().log_mel(y)[:20], atol=1e-5)
    # the normalization comes from the training segments only
    train = np.asarray(ds.frames)[ds.split == 0].reshape(-1, 64)
    np.testing.assert_allclose(ds.meta["norm"]["mean"], train.mean(0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ds.meta["norm"]["std"], train.std(0), rtol=1e-4, atol=1e-4)
    everything = np.asarray(ds.frames).reshape(-1, 64).mean(0)
    assert not np.allclose(ds.meta["norm"]["mean"], everything, atol=1e-3)


def test_build_fsdd_from_a_folder_pads_short_recordings(tmp_path, fsdd_folder):
    ds = build_fsdd(fsdd_folder, tmp_path / "fsdd")
    assert ds.meta["recordings"] == 2 * 2 * 7 and ds.meta["features"]["sr"] == 8000
    assert ds.label_values == {"digit": ["0", "1"], "speaker": ["ann", "bob"]}
    assert set(ds.info) >= {"utterance", "source", "start_frame", "recording_frames"}
    short = ds.info["utterance"] == "1_bob_0"  # 0.1 s: 11 frames, one padded segment
    assert short.sum() == 1 and ds.info["recording_frames"][short][0] == 11
    seg = np.asarray(ds.frames)[short][0]
    assert (seg[11:] == seg[:11].min()).all()
    x = ds.normalize(ds.subset("train").get_batch(np.arange(len(ds.subset("train")))))
    assert abs(float(x.mean())) < 1e-3 and abs(float(x.std()) - 1) < 0.05
    reopened = SequenceDataset.open(tmp_path / "fsdd")
    assert reopened.meta["norm"] == ds.meta["norm"] and len(reopened) == len(ds)


def test_build_fsdd_refuses_an_existing_folder_and_foreign_files(tmp_path, fsdd_folder):
    build_fsdd(fsdd_folder, tmp_path / "fsdd", pattern="0_ann_*.wav")
    with pytest.raises(FileExistsError, match="--force"):
        build_fsdd(fsdd_folder, tmp_path / "fsdd", pattern="0_ann_*.wav")
    assert (
        len(build_fsdd(fsdd_folder, tmp_path / "fsdd", force=True, pattern="1_*.wav").label_values["digit"])
        == 1
    )
    sf.write(tmp_path / "hello.wav", voice(0.3, 200, 1), 8000)
    with pytest.raises(DatasetError, match="not an FSDD recording"):
        build_fsdd(tmp_path, tmp_path / "other")
    with pytest.raises(DatasetError, match="no training recordings"):
        build_fsdd(fsdd_folder, tmp_path / "other", pattern="*_[0-4].wav")


def test_build_fsdd_downloads_the_archive_once(tmp_path):
    source = write_fsdd_folder(tmp_path / "src", indices=(3, 8), digits=(2,))
    archive = tmp_path / "master.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("free-spoken-digit-dataset-master/README.md", "FSDD")
        for f in sorted(source.iterdir()):
            zf.write(f, f"free-spoken-digit-dataset-master/recordings/{f.name}")
    cache = tmp_path / "cache"
    ds = build_fsdd(None, tmp_path / "a", url=archive.as_uri(), cache_dir=cache)
    assert ds.meta["recordings"] == 4 and ds.meta["source"] == archive.as_uri()
    assert sorted(np.unique(ds.split)) == [0, 1]
    assert (cache / "fsdd-master.zip").is_file()
    archive.unlink()  # the cached copy serves the next build
    assert len(build_fsdd(None, tmp_path / "b", url=archive.as_uri(), cache_dir=cache)) == len(ds)
    with pytest.raises(RuntimeError, match="--root"):
        build_fsdd(None, tmp_path / "c", url=(tmp_path / "missing.zip").as_uri(), cache_dir=cache)


def test_cli_data_fsdd(tmp_path, fsdd_folder, capsys):
    out = tmp_path / "fsdd"
    assert (
        main(["data", "fsdd", "--root", str(fsdd_folder), "--out", str(out), "--n-mels", "32", "--T", "10"])
        == 0
    )
    ds = SequenceDataset.open(out)
    assert ds.frames.shape[1:] == (10, 32) and ds.meta["features"]["n_mels"] == 32
    captured = capsys.readouterr()
    assert "segments" in captured.out
    # stderr is not a terminal here (a log file): whole lines, no carriage-return stream
    assert "fsdd features" in captured.err and "\r" not in captured.err
    assert main(["data", "fsdd", "--root", str(fsdd_folder), "--out", str(out)]) == 2  # exists, no --force


# --- damaged files: reported, skipped, counted, listed; never the end of a build -------------------
def damage(path: Path, how: str) -> None:
    """Turn an audio file into one of the kinds of unreadable file people find in corpora."""
    good = path.read_bytes()
    if how == "empty":
        path.write_bytes(b"")
    elif how == "truncated header":
        path.write_bytes(good[:20])
    elif how == "garbage":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    elif how == "not audio":
        from PIL import Image

        Image.new("RGB", (8, 8)).save(path, format="PNG")
    elif how == "no samples":
        sf.write(path, np.zeros(0, np.float32), 8000, subtype="PCM_16")
    elif how == "nan samples":
        sf.write(path, np.full(800, np.nan, np.float32), 8000, subtype="FLOAT")
    else:
        raise ValueError(how)


KINDS = ("empty", "truncated header", "garbage", "not audio", "no samples", "nan samples")


def test_build_fsdd_skips_every_kind_of_unreadable_file(tmp_path, capsys):
    folder = write_fsdd_folder(tmp_path / "recordings")
    bad = [f"{d}_{s}_{i}.wav" for d, s, i in [(0, "ann", 5), (0, "bob", 6), (1, "ann", 1), (1, "bob", 6)]]
    bad += ["0_ann_6.wav", "1_bob_3.wav"]
    for name, how in zip(bad, KINDS):
        damage(folder / name, how)
    ds = build_fsdd(folder, tmp_path / "fsdd")
    err = capsys.readouterr().err
    assert ds.meta["counts"] == {"files": 28, "used": 22, "skipped": 6}
    assert sorted(s["source"] for s in ds.meta["skipped"]) == sorted(bad)
    for s in ds.meta["skipped"]:
        assert f"skipped {s['source']}: cannot read audio" in err and s["reason"].startswith(
            "cannot read audio"
        )
    assert "6 of 28 files skipped" in err
    assert not set(bad) & set(ds.info["source"].tolist()) and ds.meta["recordings"] == 22
    assert json.loads((tmp_path / "fsdd" / "meta.json").read_text())["skipped"] == ds.meta["skipped"]


def test_build_fsdd_refuses_only_when_nothing_usable_is_left(tmp_path, capsys):
    folder = write_fsdd_folder(tmp_path / "recordings", indices=(3, 5), digits=(0,))
    for f in folder.glob("*_5.wav"):  # every training recording
        damage(f, "empty")
    with pytest.raises(DatasetError, match="no readable training recording left \\(2 of 4 files unreadable"):
        build_fsdd(folder, tmp_path / "fsdd")
    for f in folder.glob("*.wav"):
        damage(f, "garbage")
    with pytest.raises(DatasetError, match="no readable recording left \\(4 of 4"):
        build_fsdd(folder, tmp_path / "fsdd")
    assert not (tmp_path / "fsdd").exists()
    assert main(["data", "fsdd", "--root", str(folder), "--out", str(tmp_path / "fsdd")]) == 2
    assert "nothing written" in capsys.readouterr().err


def test_cli_data_fsdd_reports_the_skipped_files(tmp_path, capsys):
    folder = write_fsdd_folder(tmp_path / "recordings", indices=(3, 5), digits=(0,))
    damage(folder / "0_ann_5.wav", "empty")
    assert main(["data", "fsdd", "--root", str(folder), "--out", str(tmp_path / "fsdd")]) == 0
    assert "3 recordings (1 unreadable, skipped: see meta.json)" in capsys.readouterr().out


# --- TIMIT ---------------------------------------------------------------------------------------


def write_sphere(path: Path, audio: np.ndarray, sr: int = 16000) -> None:
    """A NIST SPHERE file as TIMIT ships it: a 1024-byte ASCII header, then 16-bit little-endian PCM."""
    pcm = np.round(audio * 32767).astype("<i2")
    fields = [
        "database_id -s5 TIMIT",
        "database_version -s3 1.0",
        f"utterance_id -s8 {path.stem.lower()[:8]}",
        "channel_count -i 1",
        f"sample_count -i {len(pcm)}",
        f"sample_rate -i {sr}",
        f"sample_min -i {pcm.min()}",
        f"sample_max -i {pcm.max()}",
        "sample_n_bytes -i 2",
        "sample_byte_format -s2 01",
        "sample_sig_bits -i 16",
        "end_head",
    ]
    header = ("NIST_1A\n   1024\n" + "\n".join(fields) + "\n").encode("ascii")
    path.write_bytes(header.ljust(1024, b" ") + pcm.tobytes())


def write_fake_timit(root: Path, case=str.upper) -> None:
    speakers = {
        "train": {"dr1": ["fcjf0", "mdab0"], "dr2": ["faem0"]},
        "test": {"dr1": ["mdaw1"], "dr3": ["fcal1"]},
    }
    for split, regions in speakers.items():
        for region, names in regions.items():
            for n, name in enumerate(names):
                folder = root / case(split) / case(region) / case(name)
                folder.mkdir(parents=True)
                for k, sentence in enumerate(("sa1", "sx12", "si1027")):
                    write_sphere(
                        folder / f"{case(sentence)}.{case('wav')}", voice(0.4, 120.0 + 40 * n, k, sr=16000)
                    )


@pytest.mark.parametrize("case", [str.upper, str.lower], ids=["upper", "lower"])
def test_build_timit_reads_sphere_files_and_the_speaker_split(tmp_path, case):
    root = tmp_path / "TIMIT"
    write_fake_timit(root, case)
    # some copies keep a converted RIFF twin beside each SPHERE file: it must not count twice
    twin = next((root / case("train")).rglob(case("sa1.wav")))
    sf.write(twin.with_name(twin.name + ".wav"), voice(0.4, 120.0, 0), 16000)
    ds = build_timit(tmp_path, tmp_path / "timit")  # the corpus folder may sit one level down
    assert ds.meta["recordings"] == 5 * 3
    assert ds.label_values["speaker"] == ["FAEM0", "FCAL1", "FCJF0", "MDAB0", "MDAW1"]
    train_speakers = set(ds.label_array("speaker")[ds.split == 0])
    test_speakers = set(ds.label_array("speaker")[ds.split == 1])
    assert len(train_speakers) == 3 and len(test_speakers) == 2 and not train_speakers & test_speakers
    assert set(ds.info["dialect_region"]) == {"DR1", "DR2", "DR3"}
    assert set(ds.info["sentence"]) == {"SA1", "SX12", "SI1027"}
    assert "FCJF0/SA1" in set(ds.info["utterance"])
    # 0.4 s at 16 kHz, resampled to 8 kHz: 41 frames -> segments at 0, 10, 20, 21
    assert (ds.info["recording_frames"] == 41).all() and len(ds) == 15 * 4
    wav = next((root / case("train")).rglob(case("sx12.wav")))
    y, sr = sf.read(wav, dtype="float32")
    assert sr == 16000 and np.abs(y).max() > 0.25  # soundfile's libsndfile parses the SPHERE header
    import librosa

    row = np.flatnonzero((ds.info["source"] == str(wav.relative_to(root))) & (ds.info["start_frame"] == 0))[0]
    expected = SpeechFeatures().log_mel(librosa.resample(y, orig_sr=16000, target_sr=8000))[:20]
    np.testing.assert_allclose(ds.frames[row], expected, atol=1e-4)


def test_build_timit_explains_a_wrong_layout(tmp_path):
    (tmp_path / "TRAIN").mkdir()
    with pytest.raises(DatasetError, match="TRAIN/ and TEST/"):
        build_timit(tmp_path, tmp_path / "out")


# --- evaluation and voice conversion ----------------------------------------------------------------


def test_evaluate_speech_run_writes_the_metrics(speech_run):
    m = evaluate_speech_run(speech_run)
    assert m["kind"] == "speech" and m["dataset"]["test_utterances"] == 2 * 2 * 5
    assert set(m["speaker_eer"]) == {"f", "z"} and all(0 <= v <= 1 for v in m["speaker_eer"].values())
    assert m["pairs"] == {"same": 2 * 45, "different": 100}
    assert set(m["probe"]) == {"digit", "speaker"} and set(m["probe"]["digit"]) == {"f", "z", "chance"}
    assert set(m["reconstruction"]) == {"loss", "recon", "kl_f", "kl_z", "mse"}
    assert json.loads((speech_run / "metrics.json").read_text())["speaker_eer"] == m["speaker_eer"]
    md = (speech_run / "metrics.md").read_text()
    assert "EER with f" in md and "DSVAE (paper, TIMIT) | 5.64% | 19.20%" in md
    assert evaluate_speech_run(speech_run)["reconstruction"] == m["reconstruction"]  # seeded
    from dsvae.evaluate.records import MetricsRecord

    record = MetricsRecord.from_dict(m)  # every number of a speech run is declared by its records
    assert m["schema"] == record.schema == 2 and record.undeclared() == []
    assert {"speaker_eer.f", "probe.digit.f", "reconstruction.mse"} <= set(record.scores())


def test_cli_eval_prints_the_table_of_the_runs_data(speech_run, capsys):
    """`dsvae eval` has no modality branch: it prints the table evaluation wrote for the run's data."""
    assert main(["eval", str(speech_run), "--dci", "linear"]) == 0
    out = capsys.readouterr().out
    # the table of metrics.md, less its last line (the sha256 of the metrics.json it was made from)
    assert "Speaker verification EER" in out and out == read_metrics_markdown(speech_run)
    assert "sha256" in (speech_run / "metrics.md").read_text(encoding="utf-8").splitlines()[-1]


def test_voice_conversion_writes_wavs_and_pictures(speech_run, tmp_path):
    from PIL import Image

    written = voice_conversion(
        speech_run, tmp_path / "voice", source="0_ann_3", target_speaker="bob", n_iter=4
    )
    for name in ("source", "own_f", "converted", "target"):
        audio, sr = sf.read(written[name])
        assert sr == 8000 and np.abs(audio).max() > 0
        with Image.open(written[f"{name}_png"]) as img:
            assert img.height == 64 * 4
    assert abs(len(sf.read(written["converted"])[0]) - 0.4 * 8000) <= 80  # 0_ann_3 lasts 0.4 s
    assert Image.open(written["sheet"]).height == 4 * (64 * 4 + 16)
    with pytest.raises(ValueError, match="unknown speaker"):
        voice_conversion(speech_run, tmp_path / "v", target_speaker="carol")


@pytest.mark.parametrize("how", KINDS)
def test_build_timit_skips_damaged_files_and_falls_back_to_the_twin(tmp_path, how, capsys):
    root = tmp_path / "TIMIT"
    write_fake_timit(root)
    sphere = root / "TRAIN" / "DR1" / "FCJF0" / "SA1.WAV"
    twin = sphere.with_name("SA1.WAV.wav")
    sf.write(twin, voice(0.4, 120.0, 0), 16000)
    damage(sphere, how)  # the SPHERE file is damaged: its RIFF twin is read
    lone = root / "TEST" / "DR3" / "FCAL1" / "SX12.WAV"
    damage(lone, how)  # no twin: skipped
    riff_first = root / "TRAIN" / "DR2" / "FAEM0" / "SI1027.WAV"
    sf.write(riff_first.with_name("SI1027.WAV.wav"), voice(0.4, 120.0, 2), 16000)
    damage(riff_first.with_name("SI1027.WAV.wav"), how)  # the twin is damaged, the SPHERE file reads
    ds = build_timit(root, tmp_path / "timit")
    err = capsys.readouterr().err
    assert ds.meta["counts"] == {"files": 15, "used": 14, "skipped": 1}
    assert [s["source"] for s in ds.meta["skipped"]] == ["TEST/DR3/FCAL1/SX12.WAV"]
    assert ds.meta["fallbacks"] == [
        {"source": "TRAIN/DR1/FCJF0/SA1.WAV", "used": "TRAIN/DR1/FCJF0/SA1.WAV.wav", "reason": ANY_REASON}
    ]
    assert "TRAIN/DR1/FCJF0/SA1.WAV unreadable, read TRAIN/DR1/FCJF0/SA1.WAV.wav instead" in err
    sources = set(ds.info["source"].tolist())
    assert "TRAIN/DR1/FCJF0/SA1.WAV.wav" in sources and "TRAIN/DR2/FAEM0/SI1027.WAV" in sources
    assert "FCAL1/SX12" not in set(ds.info["utterance"].tolist())


class _AnyReason(str):
    def __eq__(self, other) -> bool:
        return isinstance(other, str) and other.startswith("cannot read audio")

    __hash__ = str.__hash__


ANY_REASON = _AnyReason()


def test_a_judge_given_for_a_speech_run_is_reported_unused(speech_run, tmp_path):
    """`dsvae eval SPEECH_RUN --judge J` ignored the judge without a word."""
    from dsvae.evaluate import evaluate_run

    with pytest.warns(UserWarning, match="without a judge; the --judge/--judge2 given are not used"):
        m = evaluate_run(speech_run, judge_dir=tmp_path / "some-judge")
    assert m["kind"] == "speech"


# --- every audio file soundfile reads, in any letter case (issue 27) -------------------------------
def test_build_fsdd_reads_wav_in_any_case_and_every_soundfile_format(tmp_path, capsys):
    folder = tmp_path / "recordings"
    folder.mkdir()
    (ann, pitch_a), (bob, pitch_b) = list(SPEAKERS.items())[:2]
    for digit in (0, 1):
        for i in (3, 5, 6):
            sf.write(folder / f"{digit}_{ann}_{i}.wav", voice(0.4, pitch_a, digit), 8000)
            sf.write(folder / f"{digit}_{bob}_{i}.WAV", voice(0.4, pitch_b, digit), 8000)
            sf.write(folder / f"{digit}_carol_{i}.flac", voice(0.4, 150, digit), 8000, format="FLAC")
    sf.write(folder / "1_carol_7.ogg", voice(0.4, 150, 1), 8000, format="OGG")
    (folder / "README.md").write_text("recordings\n")
    ds = build_fsdd(folder, tmp_path / "fsdd")
    assert ds.label_values["speaker"] == sorted([ann, bob, "carol"])
    assert ds.meta["counts"]["files"] == 19 and ds.meta["counts"]["used"] == 19
    assert ds.meta["file_kinds"]["used"] == {".WAV": 6, ".flac": 6, ".wav": 6, ".ogg": 1}
    assert (
        main(["data", "fsdd", "--root", str(folder), "--out", str(tmp_path / "cli"), "--pattern", "*.wav"])
        == 0
    )
    out = capsys.readouterr().out
    assert "files found: 6 .WAV, 6 .wav; used: 6 .WAV, 6 .wav" in out  # --pattern matches in any case
    flac_only = tmp_path / "flac"
    flac_only.mkdir()
    for f in folder.glob("*.flac"):
        f.rename(flac_only / f.name)
    assert len(build_fsdd(flac_only, tmp_path / "f").label_values["digit"]) == 2
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "README.md").write_text("x")
    with pytest.raises(DatasetError, match=r"no recordings in .* the files there: 1 \.md"):
        build_fsdd(tmp_path / "docs", tmp_path / "x")


def test_one_recording_in_two_formats_is_read_once(tmp_path):
    folder = write_fsdd_folder(tmp_path / "recordings", indices=(3, 5), digits=(0,))
    first = sorted(folder.glob("*.wav"))[0]
    sf.write(first.with_suffix(".flac"), voice(0.4, 200, 0), 8000, format="FLAC")
    ds = build_fsdd(folder, tmp_path / "fsdd")
    assert ds.meta["counts"]["files"] == len(list(folder.glob("*.wav")))
    n = len(list(folder.glob("*.wav")))
    assert ds.meta["file_kinds"]["found"] == {".wav": n, ".flac": 1}
    assert sum(ds.meta["file_kinds"]["used"].values()) == n  # the first by name, the other its fallback
