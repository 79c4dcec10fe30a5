"""A label split into parts (dsvae.data.parts): Sprites' motion = 3 * action + direction.

The declaration is refused where it is no split; an oracle model whose f decides one part of the
motion and z the other scores exactly as it should in every protocol (the parts read off the one
judge's reading of the motion, probes of the parts fitted on their own), while every number of the
label is what it is without the split; old metrics.json files without parts load and compare beside
new ones; compare, `dsvae recipes`' lines and the README's table carry the parts."""

import copy
import importlib.util
import json
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from dsvae.data import DatasetError, SequenceDataset
from dsvae.data.parts import LabelPartsError, product_parts, read_label_parts
from dsvae.data.sprites import ACTIONS, DIRECTIONS, LABEL_PARTS, MOTIONS
from dsvae.evaluate.compare import compare_runs, compare_table, results_lines
from dsvae.evaluate.factors import dataset_factor_kinds
from dsvae.evaluate.markdown import metrics_table
from dsvae.evaluate.protocols import ScoringContext, score_video_run
from dsvae.evaluate.records import MetricsRecord, headline_of

ROOT = Path(__file__).resolve().parents[1]
COLOURS = 4  # a static label beside the motion, carried by f
STEP = 60  # pixel value per class index: the oracle's frames hold (action, direction, colour)


# --- the declaration ------------------------------------------------------------------------------
def test_sprites_declares_motion_as_three_actions_times_three_directions():
    parts = read_label_parts(LABEL_PARTS, {"motion": MOTIONS})["motion"]
    assert parts.parts == {"action": ACTIONS, "direction": DIRECTIONS}
    y = np.arange(len(MOTIONS))
    split = parts.split(y)
    assert (split["action"] == y // 3).all() and (split["direction"] == y % 3).all()
    assert [MOTIONS[i] for i in y] == [f"{ACTIONS[a]}_{DIRECTIONS[d]}" for a, d in zip(y // 3, y % 3)]


def test_the_built_benchmark_declares_the_split_its_info_columns_hold(sprites_built):
    ds, _ = sprites_built
    split = ds.label_parts["motion"].split(ds.label_array("motion"))
    assert (split["action"] == ds.info_array("action")).all()
    assert (split["direction"] == ds.info_array("direction")).all()


def declared(part: str, value: str, members: list[str]) -> dict:
    """Sprites' declaration with the motions under one value of a part changed to ``members``."""
    doc = copy.deepcopy(LABEL_PARTS)
    doc["motion"][part][value] = members
    return doc


@pytest.mark.parametrize(
    ("declaration", "message"),
    [
        (  # walk_front under walk and under spellcast
            declared("action", "spellcast", ["walk_front", "spellcast_left", "spellcast_right"]),
            "'walk_front' is under two values of action, 'walk' and 'spellcast'",
        ),
        (  # spellcast_front under no action
            declared("action", "spellcast", ["spellcast_left", "spellcast_right"]),
            "'spellcast_front' are under no value of action",
        ),
        (  # the direction left out: three motions share each action
            {"motion": {"action": LABEL_PARTS["motion"]["action"], "speed": {"any": list(MOTIONS)}}},
            "the values 'walk_front' and 'walk_left' have the same parts .* a part is missing",
        ),
        ({"motion": {"action": LABEL_PARTS["motion"]["action"]}}, "must name two parts or more"),
        (declared("direction", "front", ["walk_up"]), "lists 'walk_up', which is no value of motion"),
        (declared("direction", "front", []), "must list one motion value or more"),
        (declared("direction", "front", ["walk_front", "walk_front"]), "lists the motion value .* twice"),
        ({"moton": LABEL_PARTS["motion"]}, "splits 'moton', which is no label of the dataset"),
        ({"motion": {"act.ion": {}, "direction": {}}}, "without '.'"),
        ([1, 2], "must be an object"),
    ],
    ids=["two-values", "none", "missing", "one-part", "unknown", "empty", "twice", "label", "dot", "list"],
)
def test_a_declaration_that_is_no_split_is_refused(declaration, message):
    with pytest.raises(LabelPartsError, match=message):
        read_label_parts(declaration, {"motion": MOTIONS})
    # where the data enters: a dataset that declares it is refused
    with pytest.raises(DatasetError, match=message):
        oracle_dataset(meta={"label_parts": declaration})


def test_product_parts_is_row_major_and_checks_the_sizes():
    doc = product_parts(["a0", "a1", "b0", "b1", "c0", "c1"], {"letter": "abc", "digit": "01"})
    assert doc == {
        "letter": {"a": ["a0", "a1"], "b": ["b0", "b1"], "c": ["c0", "c1"]},
        "digit": {"0": ["a0", "b0", "c0"], "1": ["a1", "b1", "c1"]},
    }
    with pytest.raises(LabelPartsError, match="no product of parts of 3 x 3"):
        product_parts(MOTIONS[:8], {"action": ACTIONS, "direction": DIRECTIONS})


# --- an oracle model: f decides one part of the motion (and the colour), z the other --------------
def oracle_dataset(per_combination: int = 8, meta: dict | None = None, seed: int = 0) -> SequenceDataset:
    """Every (action, direction, colour) ``per_combination`` times, T = 2 frames of 4x4 whose pixels
    hold the three classes; half the sequences test, at random."""
    a, d, c = np.meshgrid(np.arange(3), np.arange(3), np.arange(COLOURS), indexing="ij")
    a, d, c = (np.repeat(v.ravel(), per_combination) for v in (a, d, c))
    frames = np.zeros((len(a), 2, 4, 4, 3), dtype=np.uint8)
    for channel, v in enumerate((a, d, c)):
        frames[..., channel] = (STEP * v)[:, None, None, None]
    split = np.random.default_rng(seed).permutation(len(a)) % 2
    return SequenceDataset(
        frames,
        {"motion": 3 * a + d, "colour": c},
        {"motion": list(MOTIONS), "colour": [f"c{k}" for k in range(COLOURS)]},
        split,
        meta={"name": "oracle", "label_parts": LABEL_PARTS} if meta is None else meta,
    )


def classes(x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The (action, direction, colour) of videos (B, T, 3, H, W) drawn by :func:`oracle_dataset`."""
    v = torch.round(x[:, 0, :, 0, 0].float() * 255 / STEP).long()
    return {"action": v[:, 0], "direction": v[:, 1], "colour": v[:, 2]}


class Oracle(nn.Module):
    """A model whose f holds one part of the motion (``f_holds``) and the colour, one-hot, and
    whose z holds the other part; the decoder draws exactly what the latents hold, and the priors
    draw every class at random."""

    def __init__(self, f_holds: str) -> None:
        super().__init__()
        self.f_holds, self.z_holds = f_holds, ({"action", "direction"} - {f_holds}).pop()

    def encode(self, x: torch.Tensor) -> SimpleNamespace:
        k = classes(x)
        one_hot = nn.functional.one_hot
        f = torch.cat([one_hot(k[self.f_holds], 3), one_hot(k["colour"], COLOURS)], 1)
        z = one_hot(k[self.z_holds], 3)[:, None].expand(-1, x.shape[1], -1)
        return SimpleNamespace(f=f.float(), z=z.float())

    def encode_and_elbo(self, x: torch.Tensor):
        zero = torch.zeros(())
        return self.encode(x), SimpleNamespace(loss=zero, recon=zero, kl_f=zero, kl_z=zero)

    def decode(self, f: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        k = {self.f_holds: f[:, :3].argmax(1), "colour": f[:, 3:].argmax(1), self.z_holds: z[:, 0].argmax(1)}
        x = torch.zeros(len(f), z.shape[1], 3, 4, 4)
        for channel, name in enumerate(("action", "direction", "colour")):
            x[:, :, channel] = (STEP * k[name].float() / 255)[:, None, None, None]
        return x

    def sample_prior_f(self, n: int) -> torch.Tensor:
        return torch.randn(n, 3 + COLOURS)

    def sample_prior_z(self, n: int) -> torch.Tensor:
        return torch.randn(n, 1, 3).expand(-1, 2, -1)


class OracleJudge:
    """Reads the motion (one 9-way head: 3 * action + direction) and the colour without error."""

    def __call__(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        k = classes(x)
        heads = {"motion": (3 * k["action"] + k["direction"], 9), "colour": (k["colour"], COLOURS)}
        return {name: 20.0 * nn.functional.one_hot(y, n).float() for name, (y, n) in heads.items()}

    def predict_proba(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {name: logits.softmax(-1) for name, logits in self(x).items()}


def score_oracle(tmp_path: Path, f_holds: str, ds: SequenceDataset, seeds: int = 3) -> dict:
    test = ds.subset("test")
    kinds, rules = dataset_factor_kinds(ds)
    ctx = ScoringContext(
        run_dir=tmp_path,
        model=Oracle(f_holds),
        dataset=ds,
        test=test,
        device=torch.device("cpu"),
        precision="fp32",
        seeds=seeds,
        batch_size=64,
        kinds=kinds,
        rules=rules,
        judge=OracleJudge(),
        parts={k: p for k, p in ds.label_parts.items() if k in test.labels},
    )
    return score_video_run(ctx, regressors=("linear",))


def mean(v) -> float:
    return v["mean"] if isinstance(v, dict) else v


def same_direction_rate(y: np.ndarray, seeds: int) -> float:
    """How often a swap pair (a, partner[a]) of the seeds of the judge protocols shares its part."""
    partners = [np.random.default_rng(s).permutation(len(y)) for s in range(seeds)]
    return float(np.mean([(y == y[partner]).mean() for partner in partners]))


@pytest.mark.parametrize("f_holds", ["direction", "action"])
def test_an_oracle_scores_each_part_where_its_latent_puts_it(tmp_path, f_holds):
    """f decides ``f_holds`` (DBSE's f on Sprites: the direction), z the other part: in a swap the
    part of f follows f and the other z, every time; with z kept and f sampled the part of z is
    always right and the part of f at chance; probes read each part from its latent only."""
    z_holds = ({"action", "direction"} - {f_holds}).pop()
    ds = oracle_dataset()
    m = score_oracle(tmp_path, f_holds, ds)
    test = ds.subset("test")
    y = ds.label_parts["motion"].split(test.label_array("motion"))
    factors = m["factors"]["parts"]["motion"]
    # swaps: the part f decides comes from a (f), the other from b (z), on every pair where they differ
    assert mean(factors[f_holds]["swap"]["f"]) == 1.0 and mean(factors[f_holds]["swap"]["z"]) == 0.0
    assert mean(factors[z_holds]["swap"]["z"]) == 1.0 and mean(factors[z_holds]["swap"]["f"]) == 0.0
    assert mean(factors[z_holds]["swap"]["neither"]) == 0.0 and factors[f_holds]["chance"] == 1 / 3
    # b's part after the swap: z's always, f's only where a and b share it (all pairs count)
    swap = m["swap"]["parts"]["motion"]
    assert mean(swap[z_holds]) == 1.0
    assert mean(swap[f_holds]) == pytest.approx(same_direction_rate(y[f_holds], 3), abs=1e-12)
    assert mean(m["swap"]["motion"]) == pytest.approx(mean(swap[f_holds]), abs=1e-12)  # the joint: both
    # z kept, f sampled: Acc and the paper's protocol read z's part always, f's at chance
    for acc in (m["motion_scores"]["acc_parts"], m["paper_protocol"]["parts"]["motion"]):
        assert mean(acc[z_holds]) == 1.0 and abs(mean(acc[f_holds]) - 1 / 3) < 0.1
    # samples: the part of the latent kept survives
    assert mean(factors[f_holds]["sample"]["f"]) == 1.0 and mean(factors[z_holds]["sample"]["z"]) == 1.0
    assert abs(mean(factors[f_holds]["sample"]["z"]) - 1 / 3) < 0.1
    # the judge reads every part of real and reconstructed sequences
    assert m["judge_audit"]["judge"]["parts"] == {
        w: {"motion": {"action": 1.0, "direction": 1.0}} for w in ("real", "reconstruction")
    }
    # probes fitted on each part: from its own latent only; the leak (from f) is the part f holds
    probes = m["latents"]["probes"]["motion"]["parts"]
    assert probes[f_holds]["from_f"]["linear"] == 1.0 and probes[z_holds]["from_z"]["linear"] == 1.0
    assert probes[z_holds]["from_f"]["linear"] < 0.5 and probes[f_holds]["from_z"]["linear"] < 0.5
    assert probes[f_holds]["leak"]["linear_fraction"] == pytest.approx(1.0)
    assert probes[f_holds]["ceiling"] == 1.0  # the judge's reading of the part on real data
    # every number is declared; metrics.md shows the parts
    record = MetricsRecord.from_dict(json.loads(json.dumps(m)))
    assert record.undeclared() == []
    assert record.scores()[f"factors.parts.motion.{f_holds}.swap.f"] == 1.0
    text = metrics_table(json.loads(json.dumps(m)))
    assert f"| motion: {f_holds} | dynamic (" in text and f"motion: {z_holds} of b | 100.00% ± 0.00" in text
    assert "Acc per part of the motion" in text and "the data splits motion into action and direction" in text


def without_parts(node):
    """``node`` without the parts' scores (every ``parts`` and ``acc_parts`` key) and the notes."""
    if isinstance(node, dict):
        return {k: without_parts(v) for k, v in node.items() if k not in ("parts", "acc_parts", "notes")}
    return node


def test_the_split_adds_scores_and_changes_none(tmp_path):
    """The same oracle on data with and without the declaration: every number but the parts' the
    same, to the last bit (the parts take no random draw from the protocols)."""
    split = score_oracle(tmp_path / "a", "direction", oracle_dataset())
    plain = score_oracle(tmp_path / "b", "direction", oracle_dataset(meta={"name": "oracle"}))
    assert "parts" not in plain["swap"] and "parts" not in plain["latents"]["probes"]["motion"]
    assert "parts" not in plain["judge_audit"]["judge"] and "acc_parts" not in plain["motion_scores"]
    for m in (split, plain):
        m.pop("run"), m.pop("timings_s", None)
    assert without_parts(split) == without_parts(plain)


# --- old files, compare, recipes' lines, the README's table ----------------------------------------
def fake_run(root: Path, name: str, direction: float | None, acc: float = 0.9) -> Path:
    """A scored run: metrics.json as `dsvae eval` writes it, with the motion's parts (``direction``:
    the swap's direction of b) or, None, as written before the split (no parts)."""
    run = root / name
    run.mkdir()
    ms = {"mean": acc, "std": 0.0}
    metrics = {
        "run": str(run),
        "dataset": {"name": "sprites", "test_sequences": 10},
        "judge": {"sha256": "ab" * 32},
        "motion_scores": {"acc": ms, "classes": 9, "per_class": 1},
        "swap": {"motion": ms, "attributes_mean": ms},
        "factors": {"swap_score": ms, "chance": {"motion": 1 / 9}},
    }
    if direction is not None:
        metrics["schema"] = 2
        metrics["motion_scores"]["acc_parts"] = {"action": ms, "direction": {"mean": 0.4, "std": 0.0}}
        metrics["swap"]["parts"] = {"motion": {"action": ms, "direction": {"mean": direction, "std": 0.0}}}
        metrics["factors"]["parts"] = {
            "motion": {"direction": {"swap": {"f": ms, "z": ms, "neither": ms}, "chance": 1 / 3}}
        }
    (run / "metrics.json").write_text(json.dumps(metrics))
    (run / "config.json").write_text("{}")
    return run


def test_an_old_metrics_file_loads_and_compares_beside_new_ones(tmp_path):
    old = fake_run(tmp_path, "old", None)
    new = [fake_run(tmp_path, f"s{i}", d) for i, d in enumerate((0.35, 0.55))]
    record = MetricsRecord.from_dict(json.loads((old / "metrics.json").read_text()))
    assert record.schema == 1 and record.undeclared() == [] and "swap.motion" in record.scores()
    result = compare_runs([old, *new], n_boot=200)
    direction = result["scores"]["swap.parts.motion.direction"]
    assert direction["per_run"] == [None, 0.35, 0.55] and direction["n"] == 2
    assert direction["mean"] == pytest.approx(0.45) and direction["std"] == pytest.approx(0.1414, abs=1e-4)
    assert 0.35 <= direction["ci95"][0] <= direction["ci95"][1] <= 0.55
    assert (direction["direction"], direction["unit"]) == ("higher", "fraction")
    assert result["scores"]["factors.parts.motion.direction.swap.f"]["n"] == 2
    assert result["scores"]["swap.motion"]["n"] == 3  # the label's own score pools all three
    table = compare_table(result)
    head = table.splitlines()[2]
    assert "| Acc | Acc action | Acc direction |" in head
    assert "| swap motion | swap motion: action | swap motion: direction |" in head
    assert "| swap.parts.motion.direction | higher | fraction | 2 |" in table


def test_a_results_entry_keeps_the_judged_parts():
    from dsvae.evaluate.compare import _judged_part

    kept = [
        "swap.parts.motion.direction",
        "motion_scores.acc_parts.action",
        "paper_protocol.parts.motion.action",
        "factors.parts.motion.direction.swap.f",
    ]
    left = [
        "judge_audit.judge.parts.real.motion.action",
        "swap.motion",
        "latents.probes.motion.parts.action.from_f.mlp",
    ]
    assert [_judged_part(k) for k in kept + left] == [True] * len(kept) + [False] * len(left)


def test_headline_puts_each_part_after_its_label():
    keys = ["swap.motion", "motion_scores.acc", "swap.parts.motion.direction"]
    keys += ["motion_scores.acc_parts.action"]
    assert headline_of(keys) == {
        "motion_scores.acc": "Acc",
        "motion_scores.acc_parts.action": "Acc action",
        "swap.motion": "swap motion",
        "swap.parts.motion.direction": "swap motion: direction",
    }


def entry(parts: bool) -> dict:
    def s(mean: float) -> dict:
        return {"mean": mean, "std": 0.01, "ci95": [mean - 0.01, mean + 0.01], "per_run": [mean] * 3}

    scores = {"motion_scores.acc": s(0.96), "swap.motion": s(0.49), "train_minutes": s(17.0)}
    if parts:
        scores |= {"swap.parts.motion.action": s(1.0), "swap.parts.motion.direction": s(0.49)}
        scores |= {"motion_scores.acc_parts.action": s(1.0), "motion_scores.acc_parts.direction": s(0.96)}
    return {"kind": "CPU", "machine": "m", "threads": 2, "runs": 3, "sha256": "x", "scores": scores}


def test_recipes_lines_carry_the_parts():
    old, new = results_lines([entry(False), entry(True)])
    assert "action" not in old and "swap motion 49.0% [48.0-50.0]" in old
    assert "Acc 96.0% [95.0-97.0], Acc action 100.0% [99.0-101.0], Acc direction 96.0%" in new
    assert "swap motion 49.0% [48.0-50.0], swap motion: action 100.0%" in new


def test_the_readme_table_shows_the_parts_and_missing_ones_as_missing(monkeypatch):
    spec = importlib.util.spec_from_file_location("tables", ROOT / "docs" / "tables.py")
    tables = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tables)
    # DBSE's entry scored with the split, DSVAE's before it, SPYL's not recorded
    monkeypatch.setattr(
        tables, "_current", lambda name: [] if "spyl" in name else [entry(name == "sprites-dbse")]
    )
    rows = tables.sprites()

    def cells(row: str) -> list[str]:
        return [c.strip() for c in re.split(r"(?<!\\)\|", row)]  # an escaped bar is in a cell

    header = cells(rows[0])
    assert all(len(cells(r)) == len(header) for r in rows)  # every row has every column
    dbse = dict(zip(header, cells(next(r for r in rows if "sprites-dbse" in r))))
    dsvae = dict(zip(header, cells(next(r for r in rows if "`sprites` recipe" in r))))
    assert dbse["Acc action / direction"] == "100.0 [99.0, 101.0] / 96.0 [95.0, 97.0]"
    assert dbse["swap action / direction"] == "100.0 [99.0, 101.0] / 49.0 [48.0, 50.0]"
    assert dsvae["Acc action / direction"] == "- / -" and dsvae["swap action / direction"] == "- / -"
