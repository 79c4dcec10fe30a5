"""The one format of a saved network: the model (``DSVAE.save``), the judge (``Judge.save``) and the
model part of a training checkpoint.

A saved network is a folder of three files:

    CONFIG.json         the network's config (config.json for the model, judge.json for the judge):
                        the JSON of its options dataclass, indented, UTF-8
    model.safetensors   the weights (the ``state_dict``, contiguous, on the CPU; metadata
                        {"format": "pt"}): no pickle, so a folder from someone else cannot run code
    checksums.json      the sha256 of both (:func:`dsvae._io.write_checksums`), checked on load

Each file is replaced atomically and flushed to disk (:func:`dsvae._io.atomic_file`); a folder that
must appear whole (a checkpoint, a judge) is written inside an :class:`dsvae._io.atomic_dir`.
:func:`load_network` refuses a damaged folder with :class:`~dsvae._io.DamagedFileError` naming the
file: changed since it was saved, unreadable, or a config that does not fit the weights.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import torch
from torch import nn

from ._io import (
    DamagedFileError,
    atomic_write_bytes,
    atomic_write_text,
    one_line,
    verify_checksums,
    write_checksums,
)

WEIGHTS = "model.safetensors"
Net = TypeVar("Net", bound=nn.Module)


def weights_bytes(module: nn.Module) -> bytes:
    """The safetensors file of ``module``'s state_dict: every tensor detached, contiguous and on the
    CPU, metadata {"format": "pt"}. The same weights give the same bytes (a checkpoint of a resumed
    run is compared byte for byte with one trained without a break)."""
    from safetensors.torch import save

    state = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}
    return save(state, metadata={"format": "pt"})


def save_network(
    directory: str | Path, module: nn.Module, config: dict, config_name: str = "config.json"
) -> Path:
    """Write ``module`` as a saved network into ``directory`` (made if missing): the weights, then
    ``config`` (a JSON-able dict: the options dataclass's ``to_dict()``) as ``config_name``, then
    checksums.json over both. Returns the folder. Raises ``OSError`` naming the file that could not
    be written (a full or read-only disk)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(directory / WEIGHTS, weights_bytes(module))
    atomic_write_text(directory / config_name, json.dumps(config, indent=2) + "\n")
    write_checksums(directory, [config_name, WEIGHTS])
    return directory


def read_weights(path: str | Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, on ``device``. Raises ``OSError``, ``SafetensorError`` or
    ``ValueError`` for a file that cannot be read (the caller names what to do)."""
    from safetensors.torch import load_file

    return load_file(str(path), device=str(device))


def load_network(
    directory: str | Path,
    build: Callable[[dict], Net],
    config_name: str = "config.json",
    map_location: str | torch.device = "cpu",
    *,
    kind: str = "a saved network folder",
    made_by: str = "",
    mismatch: str = "",
    remedy: str = "",
) -> Net:
    """A folder written by :func:`save_network` -> ``build(config dict)`` with the weights loaded, on
    ``map_location``. Checks the files against checksums.json where the folder has one (a folder
    saved before checksums were recorded is read without).

    The messages name the file and end with ``remedy`` (what to do about any damage; a mismatch of
    config and weights says ``mismatch`` instead, where given). Raises FileNotFoundError for a
    missing file (``kind`` holds ..., ``made_by``), :class:`~dsvae._io.DamagedFileError` (a
    ValueError) for a file whose sha256 differs from the one recorded, one that is unreadable
    (truncated, not JSON / safetensors, a config its dataclass refuses) or a config that does not
    fit the weights (another layer's shape)."""
    from safetensors import SafetensorError

    directory = Path(directory)
    config_path, weights_path = directory / config_name, directory / WEIGHTS
    for path in (config_path, weights_path):
        if not path.exists():
            made = f" ({made_by})" if made_by else ""
            raise FileNotFoundError(f"{path} not found: {kind} holds {config_name} and {WEIGHTS}{made}")
    tail = f"; {remedy}" if remedy else ""
    try:
        verify_checksums(directory, [config_name, WEIGHTS])
    except DamagedFileError as e:
        raise DamagedFileError(f"{e}{tail}") from e
    try:
        module = build(json.loads(config_path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as e:
        raise DamagedFileError(f"{config_path} is unreadable: {one_line(e)}{tail}") from e
    try:
        state = read_weights(weights_path, map_location)
    except (OSError, SafetensorError, ValueError) as e:
        raise DamagedFileError(
            f"{weights_path} is unreadable (truncated or damaged?): {one_line(e)}{tail}"
        ) from e
    try:
        module.load_state_dict(state)
    except RuntimeError as e:
        advice = mismatch or remedy
        raise DamagedFileError(
            f"{config_path} does not match {weights_path} ({one_line(e, last=True)})"
            + (f"; {advice}" if advice else "")
        ) from e
    return module.to(map_location)


__all__ = ["WEIGHTS", "load_network", "read_weights", "save_network", "weights_bytes"]
