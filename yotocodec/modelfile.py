"""Model files: the network's config and weights (no optimizer state), and their identity."""

from __future__ import annotations

import copy
import hashlib
from dataclasses import asdict
from pathlib import Path

import torch

from .files import atomic_write
from .model import ModelConfig, ScaleHyperprior

FORMAT = "yotocodec-model"
VERSION = 1


def model_id(model: ScaleHyperprior) -> bytes:
    """8-byte identity of a model: SHA-256 over its config and every tensor, in key order."""
    h = hashlib.sha256(repr(sorted(asdict(model.config).items())).encode())
    for key, value in sorted(model.state_dict().items()):
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.digest()[:8]


def atomic_save(obj, path: str | Path) -> None:
    """``torch.save`` so that ``path`` is either complete or untouched."""
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def save_model(model: ScaleHyperprior, path: str | Path, half: bool = False) -> bytes:
    """Freeze the entropy tables and write an inference model file; returns its id.

    ``half`` stores the parameters as float16, half the file. A copy of the network is
    rounded to them first, so the tables and the id are those of the model every load
    rebuilds (in float32: loading, coding and the format are the same as for a full file).
    """
    if half:
        model = copy.deepcopy(model)
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(p.half())
    model.update()
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if half:
        for name, _ in model.named_parameters():
            state[name] = state[name].half()
    mid = model_id(model)
    atomic_save(
        {"format": FORMAT, "version": VERSION, "config": asdict(model.config),
         "state_dict": state, "model_id": mid.hex()},
        path,
    )  # fmt: skip
    return mid


def read_dict(path: str | Path, kind: str, keys: tuple[str, ...]) -> dict:
    """The dict saved in a torch file of ``kind`` (loaded safely, ``weights_only``) that has
    ``keys``; a ValueError naming ``kind`` otherwise (FileNotFoundError if missing)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{kind} not found: {path}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types, with pages of text, for another file
        raise ValueError(f"{path} is not a yotocodec {kind} (unreadable: {type(e).__name__})") from None
    if not isinstance(blob, dict) or not set(keys) <= blob.keys():
        checkpoint = isinstance(blob, dict) and "opt" in blob
        raise ValueError(f"{path} is not a yotocodec {kind}"
                         + (" but a training checkpoint: `yoto export` writes its model file" if checkpoint else ""))
    return blob


@torch.inference_mode(False)  # even when first loaded by an encode: refinement takes gradients
def load_model(path: str | Path) -> ScaleHyperprior:
    """Load a model file safely (``weights_only``) and check it against its recorded id."""
    blob = read_dict(path, "model file", ("format",))
    if blob["format"] != FORMAT:
        raise ValueError(f"{path} is not a yotocodec model file")
    if blob.get("version") != VERSION:
        raise ValueError(f"{path} has model format version {blob.get('version')}, expected {VERSION}")
    model = ScaleHyperprior(ModelConfig(**blob["config"]))
    load_weights(model, blob["state_dict"])
    model.eval()
    if model_id(model).hex() != blob["model_id"]:
        raise ValueError(f"{path} is corrupted: its weights do not match its recorded id")
    return model


def load_weights(model: ScaleHyperprior, state: dict) -> None:
    """``model.load_state_dict(state)``, with the prior's CDF buffers (empty in a new model,
    filled once it has been frozen) resized to the state's first."""
    eb = model.entropy_bottleneck
    for name in ("_quantized_cdf", "_offset", "_cdf_length"):
        key = f"entropy_bottleneck.{name}"
        if key in state:
            setattr(eb, name, torch.zeros_like(state[key]))
    model.load_state_dict(state)
