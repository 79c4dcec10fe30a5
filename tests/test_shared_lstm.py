"""One BiLSTM feeding q(f) and q(z) (``q_f = "shared-lstm"``), C-DSVAE's LeakyReLU f head (``f_head``),
and the recipes that use them: SPYL as its public code trains it, C-DSVAE with the shared BiLSTM.

The public posterior (JunwenBai/C-DSVAE model.py:135-163; azencot-group/SPYL cdsvae/model.py:127-157):
lstm_out = BiLSTM(conv features); f from cat(lstm_out[:, T-1, :H], lstm_out[:, 0, H:]); z from an RNN
over lstm_out."""

import json
import math

import pytest
import torch
import torch.nn.functional as F

from dsvae.config import DSVAEConfig
from dsvae.data.sprites import MOTIONS, N_TRAIN_CHARACTERS
from dsvae.model import DSVAE
from dsvae.recipes import load_recipe

SHARED = dict(q_f="shared-lstm", q_z="full-no-f")


def shared_model(**kw) -> DSVAE:
    torch.manual_seed(0)
    return DSVAE(DSVAEConfig.preset("tiny", **{**SHARED, **kw}))


def video(cfg: DSVAEConfig, n: int = 5) -> torch.Tensor:
    return torch.rand(n, cfg.T, *cfg.frame_shape)


def reached(model: DSVAE, loss: torch.Tensor) -> set[str]:
    """The top-level modules whose parameters get a nonzero gradient from ``loss``."""
    model.zero_grad()
    loss.backward(retain_graph=True)
    return {
        n.split(".")[0] for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0
    }


# --- the structure ---------------------------------------------------------------------------------


def test_one_bilstm_is_the_only_sequence_encoder_of_both_posteriors():
    model = shared_model()
    H = model.config.hidden_dim
    assert not hasattr(model, "f_lstm")
    bidirectional = [n for n, m in model.named_modules() if isinstance(m, torch.nn.LSTM) and m.bidirectional]
    assert bidirectional == ["z_lstm"]
    assert model.z_lstm.input_size == model.config.feature_dim and model.z_lstm.hidden_size == H
    assert model.f_head.mean.in_features == 2 * H and model.z_rnn.input_size == 2 * H
    # the paper's encoder has two: q(f)'s and q(z)'s
    torch.manual_seed(0)
    separate = DSVAE(DSVAEConfig.preset("tiny", q_z="full-no-f"))
    assert {"f_lstm", "z_lstm"} <= {n for n, _ in separate.named_children()}


def test_kl_f_and_kl_z_both_train_the_shared_bilstm():
    model = shared_model()
    out = model(video(model.config))
    assert reached(model, out.kl_f) == {"frame_encoder", "z_lstm", "f_head"}
    assert {"frame_encoder", "z_lstm", "z_rnn", "z_head", "prior_lstm"} <= reached(model, out.kl_z)
    assert "f_head" not in reached(model, out.kl_z)
    # with separate encoders KL(f) never reaches q(z)'s BiLSTM
    torch.manual_seed(0)
    separate = DSVAE(DSVAEConfig.preset("tiny", q_z="full-no-f"))
    out = separate(video(separate.config))
    assert reached(separate, out.kl_f) == {"frame_encoder", "f_lstm", "f_head"}


def test_f_reads_the_forward_state_at_T_and_the_backward_state_at_1():
    model = shared_model().eval()
    H, T = model.config.hidden_dim, model.config.T
    states = []

    def keep(module, inputs, output):
        output[0].retain_grad()
        states.append(output[0])

    handle = model.z_lstm.register_forward_hook(keep)
    model.encode_f(video(model.config)).mean.sum().backward()
    handle.remove()
    (h,) = states
    used = h.grad.abs().sum(0) > 0  # (T, 2H): which states f depends on
    want = torch.zeros(T, 2 * H, dtype=torch.bool)
    want[T - 1, :H] = True  # forward direction, last frame
    want[0, H:] = True  # backward direction, first frame
    assert torch.equal(used, want)


def test_the_posteriors_are_the_public_codes_expressions():
    """encode_and_sample_post of the public code, line by line, on this model's weights."""
    model = shared_model().eval()
    H, T = model.config.hidden_dim, model.config.T
    x = video(model.config)
    with torch.no_grad():
        enc = model.encode(x)
        conv_x = model._frame_features(x)
        lstm_out, _ = model.z_lstm(conv_x)
        backward = lstm_out[:, 0, H : 2 * H]
        frontal = lstm_out[:, T - 1, 0:H]
        lstm_out_f = torch.cat((frontal, backward), dim=1)
        features, _ = model.z_rnn(lstm_out)
        assert torch.allclose(enc.f, model.f_head.mean(lstm_out_f), atol=1e-6)
        assert torch.allclose(enc.f_post.logvar, model.f_head.logvar(lstm_out_f), atol=1e-6)
        assert torch.allclose(enc.z, model.z_head.mean(features), atol=1e-6)
        # each posterior alone is the one of encode
        assert torch.allclose(model.encode_f(x).mean, enc.f) and torch.allclose(model.encode_z(x).mean, enc.z)


def test_the_leaky_relu_f_head_is_c_dsvaes_linear_unit_and_adds_no_weights():
    affine, lrelu = shared_model(), shared_model(f_head="leaky-relu")
    assert list(affine.state_dict()) == list(lrelu.state_dict())
    lrelu.eval()
    x = video(lrelu.config)
    with torch.no_grad():
        h, _ = lrelu.z_lstm(lrelu._frame_features(x))
        H = lrelu.config.hidden_dim
        s = torch.cat([h[:, -1, :H], h[:, 0, H:]], -1)
        q = lrelu.encode_f(x)
        assert torch.allclose(q.mean, F.leaky_relu(lrelu.f_head.mean(s), 0.2), atol=1e-6)
        assert torch.allclose(q.logvar, F.leaky_relu(lrelu.f_head.logvar(s), 0.2), atol=1e-6)
        assert (q.mean < 0).any() and not torch.allclose(q.mean, lrelu.f_head.mean(s))
        # z's head stays affine
        assert torch.allclose(lrelu.encode(x).z, lrelu.z_head.mean(lrelu.z_rnn(h)[0]), atol=1e-6)


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"frame_dim": 10, "channels": 1, "T": 6},
        {"frame_dim": 10, "channels": 1, "frame_context": "sequence"},
    ],
    ids=["video", "vectors", "vectors-in-context"],
)
def test_shapes_of_video_and_vector_frames(fields):
    model = shared_model(**fields)
    cfg = model.config
    B, x = 3, video(model.config, 3)
    out = model(x)
    assert out.x_hat.shape == x.shape and torch.isfinite(out.loss)
    enc = model.encode(x, sample=True)
    assert enc.f.shape == (B, cfg.f_dim) and enc.z.shape == (B, cfg.T, cfg.z_dim)
    assert model.encode_and_elbo(x)[0].f.shape == (B, cfg.f_dim)
    out.loss.backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize(
    "fields, says",
    [
        ({"q_f": "shared-lstm"}, "q_z 'full'"),
        ({**SHARED, "z_input": "minus-first"}, "z_input 'minus-first'"),
        ({**SHARED, "z_view": "silhouette"}, "z_view 'silhouette'"),
        ({"q_f": "shared-lstm", "q_z": "factorized"}, "q_z 'factorized'"),
    ],
)
def test_a_shared_bilstm_needs_q_z_to_be_that_bilstm(fields, says):
    with pytest.raises(ValueError, match=rf"q_f 'shared-lstm'.*set q_z 'full-no-f'.*{says}"):
        DSVAEConfig.preset("tiny", **fields)
    with pytest.raises(ValueError, match=r"f_head must be one of \('affine', 'leaky-relu'\)"):
        DSVAEConfig.preset("tiny", f_head="relu")


# --- saved models ------------------------------------------------------------------------------------


def test_save_load_round_trip_records_the_switches(tmp_path):
    model = shared_model(f_head="leaky-relu")
    x = video(model.config)
    model(x)  # moves the BatchNorm running statistics
    model.eval()
    model.save(tmp_path / "m")
    saved = json.loads((tmp_path / "m" / "config.json").read_text())
    assert saved["q_f"] == "shared-lstm" and saved["f_head"] == "leaky-relu"
    loaded = DSVAE.load(tmp_path / "m").eval()
    assert loaded.config == model.config
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k
    with torch.no_grad():
        assert torch.equal(model.encode(x).f, loaded.encode(x).f)
        assert torch.equal(model.encode(x).z, loaded.encode(x).z)


@pytest.mark.parametrize("with_checksums", [True, False])
def test_a_model_saved_before_the_switches_loads_as_it_was(tmp_path, with_checksums):
    """A config.json without ``f_head`` (every model saved before it existed, with or without
    checksums.json) is the affine head, and q(f) keeps its own BiLSTM."""
    from dsvae._io import CHECKSUMS, write_checksums

    torch.manual_seed(0)
    model = DSVAE(DSVAEConfig.preset("tiny")).eval()
    folder = model.save(tmp_path / "old")
    doc = json.loads((folder / "config.json").read_text())
    del doc["f_head"]
    (folder / "config.json").write_text(json.dumps(doc))
    if with_checksums:
        write_checksums(folder, ["config.json", "model.safetensors"])
    else:
        (folder / CHECKSUMS).unlink()
    loaded = DSVAE.load(folder).eval()
    assert loaded.config == model.config and loaded.config.f_head == "affine"
    assert loaded.config.q_f == "sequence" and hasattr(loaded, "f_lstm")
    x = video(model.config)
    with torch.no_grad():
        assert torch.equal(model.encode(x).f, loaded.encode(x).f)


# --- the recipes ----------------------------------------------------------------------------------


def sprites_steps(recipe) -> int:
    train_sequences = N_TRAIN_CHARACTERS * len(MOTIONS)  # 9000: the loop drops a last partial batch
    return recipe.train["epochs"] * (train_sequences // recipe.train["batch_size"])


# each published recipe, its harness recipe (the same benchmark, backbone and schedule), and the
# steps of one epoch on its data: Sprites 9000 // 50, the embedded data 1640 // 25 (dsvae.data
# synthetic's training split), FSDD's 163 (30 epochs of 4890 steps, docs/speech.md)
PUBLISHED = [
    ("sprites-spyl-published", "sprites-spyl", 180),
    ("quickstart-spyl", "quickstart-cdsvae", 65),
    ("fsdd-spyl-published", "fsdd-spyl", 163),
]


@pytest.mark.parametrize("name, harness, per_epoch", PUBLISHED)
def test_spyl_as_published_has_the_public_balance_and_start(name, harness, per_epoch):
    """reconstruction : KL(f) : KL(z) : each contrast : I(f; z) = 10 : 5 : 1 : 1 : 1 (azencot-group/SPYL
    train.py:41-43, 52, 97), the contrasts off for the first 5% of training (50 of 1000 epochs,
    train.py:48-52, 182-185) and I(f; z) on from the first step (train.py:97), no KL warm-up, and the
    shared BiLSTM with an affine f head (cdsvae/model.py:127-157)."""
    recipe = load_recipe(name)
    tc = recipe.train_config()
    o = tc.method_options
    assert tc.method == "spyl"
    balance = [tc.recon_weight, tc.kl_f_weight, tc.kl_z_weight, o["sample_predict"], o["mi_fz"]]
    assert [round(10 * w / tc.recon_weight, 9) for w in balance] == [10, 5, 1, 1, 1]
    steps = tc.epochs * per_epoch
    assert tc.terms_start_step == math.ceil(0.05 * steps)
    assert tc.terms_warmup_steps == 0 and tc.kl_warmup_steps == 0
    assert tc.delayed_terms == ("sp_f", "sp_z")
    cfg = DSVAEConfig.preset(tc.preset, **tc.model_overrides)
    assert (cfg.q_f, cfg.q_z, cfg.f_head) == ("shared-lstm", "full-no-f", "affine")
    # beyond these, the harness recipe's data, backbone and schedule, and SPYL's options of sprites-spyl
    base = load_recipe(harness)
    published = {"recon_weight", "kl_f_weight", "kl_z_weight", "terms_start_step", "delayed_terms"}
    same = {k: v for k, v in recipe.train.items() if k not in published | {"method", "method_options"}}
    assert same == {
        k: v for k, v in base.train.items() if k not in {"kl_warmup_steps", "method", "method_options"}
    }
    assert o == load_recipe("sprites-spyl").train["method_options"]
    assert recipe.model == {**base.model, "q_f": "shared-lstm"}


def test_the_published_sprites_recipe_holds_off_5_percent_of_its_steps():
    recipe = load_recipe("sprites-spyl-published")
    assert sprites_steps(recipe) == 2880 and recipe.train["terms_start_step"] == 144


def test_the_quickstart_spyl_recipe_trains_the_embedded_datas_steps(synthetic):
    train = synthetic.subset("train")
    recipe = load_recipe("quickstart-spyl")
    assert train.num_batches(recipe.train["batch_size"], drop_last=True) == 65


def test_c_dsvae_with_the_shared_bilstm_differs_from_its_harness_recipe_by_that_switch_alone():
    shared, base = load_recipe("sprites-cdsvae-shared"), load_recipe("sprites-cdsvae")
    assert shared.train == base.train
    assert shared.model == {**base.model, "q_f": "shared-lstm"}


def test_every_family_recipe_says_how_it_departs_from_the_public_code():
    from dsvae.recipes import recipe_names

    for name in recipe_names():
        recipe = load_recipe(name)
        if recipe.train.get("method", "dsvae") == "dsvae":
            continue  # DSVAE's recipes follow the paper's model (no public code of its authors is read here)
        lines = [line for line in recipe.text.splitlines() if line.startswith("# Departs from")]
        assert len(lines) == 1 and "docs/family.md" in lines[0], name


def test_a_short_training_with_the_shared_bilstm_and_the_held_off_terms(tmp_path, tiny_dataset_dir):
    """The switch through the loop: SPYL's terms read 0 before their start step and are computed
    from it; the run's config.json records the switch; the model loads from the run."""
    import csv

    from conftest import tiny_train_config
    from dsvae.run import load_model
    from dsvae.train import train

    tc = tiny_train_config(
        tiny_dataset_dir, epochs=2, method="spyl", terms_start_step=6, kl_f_weight=0.5, kl_z_weight=0.1,
        delayed_terms=("sp_f", "sp_z"), model_overrides=SHARED,
    )  # fmt: skip
    run = tmp_path / "run"
    train(tc, run)
    assert json.loads((run / "config.json").read_text())["q_f"] == "shared-lstm"
    rows = [r for r in csv.DictReader((run / "objective.csv").open()) if r["split"] == "train"]
    assert float(rows[0]["sp_f"]) == 0.0 and float(rows[1]["sp_f"]) != 0.0  # 6 steps an epoch
    assert float(rows[0]["mi_fz"]) != 0.0  # I(f; z) is not delayed
    assert load_model(run).config.q_f == "shared-lstm"
