import json
import os
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

from conftest import moving_squares, tiny_train_config
from dsvae.cli import main as cli_main
from dsvae.data import SequenceDataset
from dsvae.evaluate.protocols import evaluate_run
from dsvae.report import build_report, markdown_to_html, missing_pictures
from dsvae.train import train
from dsvae.viz import PICTURES, visualize_run, write_run_train_pictures
from dsvae.viz.catalogue import LEAD

# what the page embeds: the swap matrix animated (the first screen), the curves, the latent map and the
# traversals of the labelled squares (colour, motion; metrics.json of an eval without a judge: no
# factor scores), every other animation, and the swap matrix frame by frame
SHOWN_ORDER = [
    LEAD,
    "curves.png",
    "latent_map.png",
    "traverse_colour.gif",
    "traverse_motion.gif",
    *(name for name in PICTURES if name != LEAD and (name.endswith(".gif") or name == "swap_matrix.png")),
]

CHROMIUM = Path("/usr/bin/chromium")  # Debian's chromium package; .ci/run installs it
# appended to a copy of the page: once everything has loaded, count the images that decoded
PROBE = """<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const ok = images.filter((img) => img.complete && img.naturalWidth > 0).length;
  document.body.setAttribute("data-images-loaded", ok + "/" + images.length);
});
</script>"""
LEAD_ID = "pic-" + LEAD.replace(".", "-").replace("_", "-")  # the first screen's picture on the page
VIEWPORT = (1280, 800)  # a laptop's first screen, CSS pixels
# the first image of the page: its id, whether it decoded, and where its box starts (CSS pixels)
FIRST_IMAGE_PROBE = """<script>
window.addEventListener("load", () => {
  const img = document.images[0];
  const box = img.getBoundingClientRect();
  const decoded = img.complete && img.naturalWidth > 0;
  document.body.setAttribute("data-first-image",
    [img.id, decoded, Math.round(box.left), Math.round(box.top), Math.round(box.height)].join(" "));
});
</script>"""
METRICS_MD = """# Evaluation of run

Data: squares, 20 test sequences; seeds: 2 (mean ± std).

## 2. Motion head

| Acc | IS (max 4) | H(y\\|x) (min 0) |
| --- | --- | --- |
| 50.00% ± 1.00 | 2.000 ± 0.100 | 0.500 ± 0.010 |
"""


# the 16x16 run's pictures at the smallest grids that still draw every kind (the 64x64 page below is
# drawn at dsvae viz's defaults: its size is the main job's)
SMALL = dict(n_rows=2, n_cols=2, k=2)


@pytest.fixture(scope="module")
def run_dir(tiny_dataset_dir, tmp_path_factory):
    run = tmp_path_factory.mktemp("report") / "run"
    train(tiny_train_config(tiny_dataset_dir), run)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        evaluate_run(run, None, seeds=1, regressors=("linear",))  # `dsvae eval RUN`: the latent scores
    (run / "metrics.md").write_text(METRICS_MD)
    return run


@pytest.fixture(scope="module")
def page(run_dir) -> Path:
    assert missing_pictures(run_dir)  # trained without pictures: the report names them, draws none
    text = build_report(run_dir).read_text()
    assert f"run dsvae viz {run_dir}" in text and not (run_dir / "pictures").exists()
    visualize_run(run_dir, **SMALL)  # `dsvae viz RUN --rows 2 --cols 2 --k 2`
    return build_report(run_dir)


def chromium() -> str:
    found = shutil.which("chromium") or (str(CHROMIUM) if CHROMIUM.exists() else None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"no Chromium at {CHROMIUM}: the CI machine must install Debian's chromium package")
        pytest.skip(
            f"no headless browser at {CHROMIUM} to check that the report's images load; "
            "install Debian's chromium package (apt-get install chromium) to run this test"
        )
    return found


def probe(html_page: Path, tmp_path: Path, script: str, attribute: str) -> str:
    """The value ``script`` (appended to a copy of the page) sets on <body> as ``attribute`` once the
    page has loaded in headless Chromium, in a laptop's window of 1280 x 800 pixels."""
    copy = tmp_path / "probe.html"
    copy.write_text(html_page.read_text().replace("</body>", script + "</body>"))
    cmd = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=10000",
        "--dump-dom",
        copy.as_uri(),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    found = re.search(rf'{attribute}="([^"]*)"', out.stdout)
    assert found, f"the page never finished loading in Chromium (exit {out.returncode}): {out.stderr[-2000:]}"
    return found[1]


def loaded_images(html_page: Path, tmp_path: Path) -> tuple[int, int]:
    """(images that loaded, images) in the page as headless Chromium renders it."""
    ok, total = probe(html_page, tmp_path, PROBE, "data-images-loaded").split("/")
    return int(ok), int(total)


def test_report_is_one_self_contained_page(run_dir, page):
    assert page == run_dir / "report.html"
    assert not missing_pictures(run_dir)
    text = page.read_text()
    images = re.findall(r"<img [^>]*>", text)
    ids = [re.search(r'id="([^"]+)"', img)[1] for img in images]
    # the curves, the swap matrix animated and frame by frame, the samples, reconstructions and swaps
    assert ids == ["pic-" + name.replace(".", "-").replace("_", "-") for name in SHOWN_ORDER]
    for img in images:
        assert re.search(r'alt="[^"]+"', img)
        assert re.search(r'src="data:image/(png|gif);base64,[A-Za-z0-9+/=]+"', img)
    assert not re.search(r'(src|href)="(?!data:|#)', text)  # nothing fetched from elsewhere
    assert "url(" not in text and "<link" not in text
    assert "<th>H(y|x) (min 0)</th>" in text and "<td>50.00% ± 1.00</td>" in text  # metrics.md
    assert '<td class="key">z_dim</td>' in text and '<td class="key">batch_size</td>' in text
    assert '<td class="key">torch</td>' in text


def test_every_image_loads_in_headless_chromium(page, tmp_path):
    ok, total = loaded_images(page, tmp_path)
    assert total == len(SHOWN_ORDER) and ok == total


def test_the_browser_check_sees_a_broken_image(page, tmp_path):
    broken = tmp_path / "broken.html"
    broken.write_text(
        page.read_text().replace(
            "<figure>", '<figure><img id="x" alt="x" src="data:image/png;base64,AAAA">', 1
        )
    )
    ok, total = loaded_images(broken, tmp_path)
    assert total == len(SHOWN_ORDER) + 1 and ok == len(SHOWN_ORDER)


def test_existing_pictures_are_kept_and_missing_ones_named(run_dir, page, capsys):
    pictures = run_dir / "pictures"
    (pictures / "swap_matrix.gif").unlink()
    assert missing_pictures(run_dir) == ["swap_matrix.gif"]
    before = {p.name: p.stat().st_mtime_ns for p in pictures.iterdir()}
    text = build_report(run_dir).read_text()
    assert f"no swap_matrix.gif in {pictures}: run dsvae viz {run_dir}" in text
    assert before == {p.name: p.stat().st_mtime_ns for p in pictures.iterdir()}  # report draws nothing
    assert cli_main(["report", str(run_dir)]) == 0
    err = capsys.readouterr().err
    assert f"dsvae report: no swap_matrix.gif in {pictures}: run dsvae viz {run_dir}" in err
    visualize_run(run_dir, **SMALL)
    assert (pictures / "swap_matrix.gif").exists() and not missing_pictures(run_dir)
    before = {p.name: p.stat().st_mtime_ns for p in pictures.iterdir()}
    build_report(run_dir)
    assert before == {p.name: p.stat().st_mtime_ns for p in pictures.iterdir()}


def test_metrics_json_alone_becomes_a_table(run_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    (run / "metrics.md").unlink()
    (run / "metrics.json").write_text(
        json.dumps({"reconstruction": {"psnr": 21.5, "mse": 0.01}, "notes": []})
    )
    text = build_report(run).read_text()
    assert '<td class="key">reconstruction.psnr</td><td>21.5</td>' in text
    (run / "metrics.json").unlink()
    text = build_report(run).read_text()
    assert "No metrics yet" in text and f"no metrics (metrics.json): run dsvae eval {run}" in text


def test_markdown_tables_headings_and_escapes():
    out = markdown_to_html("# Title <x>\n\ntext & more\n\n| a | b\\|c |\n| --- | --- |\n| 1 | 2 |\n")
    assert "<h3>Title &lt;x&gt;</h3>" in out and "<p>text &amp; more</p>" in out
    assert "<tr><th>a</th><th>b|c</th></tr>" in out and "<tr><td>1</td><td>2</td></tr>" in out
    assert "---" not in out


def test_cli_report(run_dir, tmp_path, capsys):
    assert cli_main(["report", str(run_dir)]) == 0
    assert capsys.readouterr().out.strip() == str(run_dir / "report.html")
    assert cli_main(["report", str(tmp_path)]) == 2
    assert "a run folder?" in capsys.readouterr().err


def test_speech_run_page_shows_spectrograms_and_sounds(tmp_path):
    rng = np.random.default_rng(0)
    SequenceDataset.from_arrays(rng.normal(size=(30, 4, 6)).astype(np.float32), test_fraction=0.3).save(
        tmp_path / "data"
    )
    run = tmp_path / "run"
    small = dict(mlp_hidden=[8], feature_dim=16, f_dim=8, z_dim=4, hidden_dim=16, factorized_hidden=16)
    speech = dict(epochs=1, lr=2e-4, preset="speech", model_overrides=small)
    train(tiny_train_config(tmp_path / "data", **speech), run)
    write_run_train_pictures(run)  # what `dsvae train` draws after training
    assert missing_pictures(run) == ["curves.png"]  # the spectrogram recon and swap are drawn
    assert f"no curves.png in {run / 'pictures'}: run dsvae viz {run}" in build_report(run).read_text()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no voice conversion for data without recordings
        visualize_run(run)
    (run / "pictures" / "voice").mkdir(exist_ok=True)
    (run / "pictures" / "voice" / "converted.wav").write_bytes(b"RIFF")
    text = build_report(run).read_text()
    ids = re.findall(r'<(?:img|audio) id="([^"]+)"', text)
    assert ids == ["pic-curves-png", "pic-recon-png", "pic-swap-png", "pic-voice-converted-wav"]
    assert '<audio id="pic-voice-converted-wav" controls src="data:audio/wav;base64,UklGRg=="' in text


def test_latent_section_shows_gif_traversals_and_png_only_ones(tmp_path):
    """A video run's traversals are animations (their PNG strips stay out); a vector run's are
    spectrogram rows drawn as PNG only, which the page shows too."""
    from PIL import Image

    from dsvae.report import _latent_pictures

    pics = tmp_path / "pictures"
    pics.mkdir()
    for name in ("traverse_motion.gif", "traverse_motion.png", "traverse_speaker.png"):
        Image.new("RGB", (4, 4)).save(pics / name)
    text = _latent_pictures(tmp_path)
    ids = re.findall(r'<img id="([^"]+)"', text)
    assert ids == ["pic-traverse-motion-gif", "pic-traverse-speaker-png"]


@pytest.fixture(scope="module")
def page_64(tmp_path_factory) -> Path:
    """The page of a run of 64 x 64 frames, the main job's size (`dsvae train`, `eval`, `viz`,
    `report`): a tiny model trained one epoch, whose noisy decodings are the hardest to compress."""
    root = tmp_path_factory.mktemp("frames64")
    moving_squares(n=32, T=8, size=64).save(root / "data")
    run = root / "run"
    train(tiny_train_config(root / "data", epochs=1, model_overrides={"frame_size": 64}), run)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        evaluate_run(run, None, seeds=1, regressors=("linear",))
    visualize_run(run)
    return build_report(run)


def test_a_64x64_runs_page_stays_under_5_mb_and_its_pictures_full_size(page_64):
    from base64 import b64decode
    from io import BytesIO

    from PIL import Image

    pictures = page_64.parent / "pictures"
    size = page_64.stat().st_size
    assert size < 5_000_000, f"{size / 1e6:.1f} MB"
    assert sum(p.stat().st_size for p in pictures.iterdir()) > size  # the page embeds lighter copies
    text = page_64.read_text()
    lead = re.search(
        rf'id="pic-{LEAD.replace(".", "-").replace("_", "-")}"[^>]* src="data:([^;]+);base64,([^"]+)"', text
    )
    with Image.open(pictures / LEAD) as original, Image.open(BytesIO(b64decode(lead[2]))) as copy:
        assert copy.size == original.size and copy.n_frames == original.n_frames  # fits the page as it is
        original.seek(original.n_frames - 1)
        copy.seek(copy.n_frames - 1)
        diff = np.abs(np.asarray(copy.convert("RGB"), float) - np.asarray(original.convert("RGB"), float))
        assert diff.mean() < 2.0  # a palette shared by the frames: the same picture to the eye


def test_the_first_screen_shows_a_picture_in_headless_chromium(page_64, tmp_path):
    ident, decoded, left, top, height = probe(
        page_64, tmp_path, FIRST_IMAGE_PROBE, "data-first-image"
    ).split()
    assert ident == "pic-" + LEAD.replace(".", "-").replace("_", "-") and decoded == "true"
    assert 0 <= int(left) < VIEWPORT[0] and 0 <= int(top) < VIEWPORT[1] // 2, (left, top)
    assert int(top) + int(height) // 2 < VIEWPORT[1]  # at least half of it in the first screen
