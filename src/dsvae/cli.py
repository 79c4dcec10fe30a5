"""`dsvae ...`: argument parsing only; every command calls the library."""

from __future__ import annotations

import argparse
import sys


def _add_data(sub) -> None:
    p = sub.add_parser("data", help="build or import datasets")
    p.set_defaults(func=lambda a: p.print_help())
    data_sub = p.add_subparsers(dest="source")
    # each data source registers itself here
    _add_data_sources(data_sub)


def _add_data_sources(data_sub) -> None:
    pass


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dsvae", description="Disentangled Sequential Autoencoder: data, training, evaluation."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_data(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except (ValueError, FileNotFoundError, FileExistsError, RuntimeError) as e:
        print(f"dsvae {args.command}: error: {e}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
