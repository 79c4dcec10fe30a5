"""`dsvae ...`: argument parsing only; every command calls the library."""

from __future__ import annotations

import argparse
import json
import sys


def _add_data(sub) -> None:
    p = sub.add_parser("data", help="build or import datasets")
    p.set_defaults(func=lambda a: p.print_help())
    data_sub = p.add_subparsers(dest="source")
    # each data source registers itself here
    _add_data_sources(data_sub)


def _add_data_sources(data_sub) -> None:
    _add_data_video(data_sub)


def _add_data_video(data_sub) -> None:
    p = data_sub.add_parser(
        "video", help="import your own videos: a video file, a folder of videos or of frame folders"
    )
    p.add_argument("--input", required=True,
                   help="a video (mp4, avi, mov, webm, mkv, gif), a folder of them, or of frame folders")
    p.add_argument("--out", required=True, help="dataset folder to write (train with dsvae train --data OUT)")
    p.add_argument("--size", type=int, default=64, help="frame side in pixels (default 64)")
    p.add_argument("--T", type=int, default=8, help="frames per sequence (default 8)")
    p.add_argument("--stride", type=int, default=None,
                   help="sampled frames between sequence starts (default T: no overlap)")
    p.add_argument("--frame-step", type=int, default=1, help="take every K-th frame (default 1)")
    p.add_argument("--fit", choices=("crop", "pad"), default="crop",
                   help="keep the aspect ratio and center-crop (default) or pad with black to a square")
    p.add_argument("--labels", default=None, help="CSV: a 'file' column, then one column per label")
    p.add_argument("--test-fraction", type=float, default=0.1,
                   help="share of the source files held out as the test set (default 0.1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the train/test split")
    p.add_argument("--force", action="store_true", help="replace an existing --out")
    p.set_defaults(func=_cmd_data_video)


def _cmd_data_video(args) -> int:
    from .data.video import import_videos

    ds = import_videos(
        args.input, args.out, size=args.size, T=args.T, stride=args.stride, frame_step=args.frame_step,
        fit=args.fit, labels_csv=args.labels, test_fraction=args.test_fraction, seed=args.seed,
        force=args.force,
    )
    c = ds.meta["counts"]
    print(
        f"{c['sequences']} sequences ({c['train']} train, {c['test']} test) of {ds.T} frames "
        f"{args.size}x{args.size} from {c['used']} of {c['files']} files ({c['skipped']} skipped, "
        f"{c['short']} shorter than T); labels: {ds.num_classes or 'none'}; dataset: {args.out}"
    )
    return 0


def _parse_override(text: str) -> tuple[str, object]:
    """``z_dim=8``, ``q_z=factorized``, ``conv_channels=32,64,128``: a DSVAEConfig field and value."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--set takes FIELD=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    if "," in value:
        return key, [json.loads(v) for v in value.split(",")]
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _add_train(sub) -> None:
    from .train import PRECISIONS, TrainConfig

    d = TrainConfig()
    p = sub.add_parser("train", help="train a DSVAE; writes a run folder")
    p.add_argument("--data", default=d.data, help="synthetic (default), sprites, fsdd, or a dataset folder")
    p.add_argument("--preset", default=d.preset, help="model preset: paper, cpu (default), tiny, speech")
    p.add_argument("--set", dest="overrides", action="append", type=_parse_override, default=[],
                   metavar="FIELD=VALUE", help="override a DSVAEConfig field, e.g. --set z_dim=8 (repeatable)")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="global batch (default 25)")
    p.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate (default 2e-4)")
    p.add_argument("--kl-warmup-steps", type=int, default=d.kl_warmup_steps,
                   help="linear warm-up of the KL weight over this many steps (default 0: the plain ELBO)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--data-seed", type=int, default=d.data_seed, help="seed of generated data (synthetic)")
    p.add_argument("--precision", choices=PRECISIONS, default=d.precision,
                   help="bf16 autocast or fp32; auto (default) uses bf16 where the hardware has it")
    p.add_argument("--device", default=d.device, help="auto (default), cpu, cuda, cuda:1, ...")
    p.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--log-every", type=int, default=d.log_every)
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every,
                   help="also checkpoint every N steps inside an epoch (default: at epoch ends only)")
    p.add_argument("--max-steps", type=int, default=d.max_steps, help="stop (checkpointed) after N steps")
    p.add_argument("--no-pictures", dest="pictures", action="store_false")
    p.add_argument("--out", default=None, help="run folder (default runs/<data>-<preset>-<time>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--force", action="store_true", help="train into a non-empty --out anyway")
    p.set_defaults(func=_cmd_train)


def _cmd_train(args) -> int:
    import time
    from pathlib import Path

    from .train import TrainConfig, TrainingDiverged, train

    if args.resume and not args.out:
        raise ValueError("--resume needs --out RUN (the run folder to continue)")
    tc = TrainConfig(
        data=args.data, preset=args.preset, model_overrides=dict(args.overrides), epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, kl_warmup_steps=args.kl_warmup_steps, seed=args.seed,
        data_seed=args.data_seed, precision=args.precision, device=args.device,
        channels_last=args.channels_last, compile=args.compile, log_every=args.log_every,
        checkpoint_every=args.checkpoint_every, max_steps=args.max_steps, pictures=args.pictures,
    )
    name = Path(args.data).name or "data"
    out = Path(args.out or f"runs/{name}-{args.preset}-{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        result = train(tc, out, resume=args.resume, force=args.force)
    except TrainingDiverged as e:
        print(f"dsvae train: stopped: {e}", file=sys.stderr)
        return 3
    if result.test:
        t = result.test
        print(
            f"done: {result.epochs_done} epochs, {result.steps} steps in {result.wall_s:.0f} s; test loss "
            f"{t['loss']:.2f} (recon {t['recon']:.2f}, kl_f {t['kl_f']:.2f}, kl_z {t['kl_z']:.2f}); run: {out}"
        )
    else:
        print(f"stopped after {result.steps} steps ({result.wall_s:.0f} s); resume with --resume --out {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dsvae", description="Disentangled Sequential Autoencoder: data, training, evaluation."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_data(sub)
    _add_train(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except (ValueError, FileNotFoundError, FileExistsError) as e:
        print(f"dsvae {args.command}: error: {e}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
