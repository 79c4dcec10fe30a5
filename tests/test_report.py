import json
import os
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

from conftest import tiny_train_config
from dsvae.cli import main as cli_main
from dsvae.data import SequenceDataset
from dsvae.evaluate.protocols import evaluate_run
from dsvae.report import build_report, markdown_to_html, missing_pictures
from dsvae.train import train
from dsvae.viz import PICTURES, visualize_run, write_run_train_pictures

# what the page embeds: the curves, the latent map and the traversals of the labelled squares (colour,
# motion; metrics.json of an eval without a judge: no factor scores), every animation, and the swap
# matrix frame by frame
SHOWN_ORDER = [
    "curves.png",
    "latent_map.png",
    "traverse_colour.gif",
    "traverse_motion.gif",
    *(name for name in PICTURES if name.endswith(".gif") or name == "swap_matrix.png"),
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
METRICS_MD = """# Evaluation of run

Data: squares, 20 test sequences; seeds: 2 (mean ± std).

## 2. Motion head

| Acc | IS (max 4) | H(y\\|x) (min 0) |
| --- | --- | --- |
| 50.00% ± 1.00 | 2.000 ± 0.100 | 0.500 ± 0.010 |
"""


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
    visualize_run(run_dir)  # `dsvae viz RUN`
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


def loaded_images(html_page: Path, tmp_path: Path) -> tuple[int, int]:
    """(images that loaded, images) in the page as headless Chromium renders it."""
    probe = tmp_path / "probe.html"
    probe.write_text(html_page.read_text().replace("</body>", PROBE + "</body>"))
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
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=10000",
        "--dump-dom",
        probe.as_uri(),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    found = re.search(r'data-images-loaded="(\d+)/(\d+)"', out.stdout)
    assert found, f"the page never finished loading in Chromium (exit {out.returncode}): {out.stderr[-2000:]}"
    return int(found[1]), int(found[2])


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
    visualize_run(run_dir)
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
