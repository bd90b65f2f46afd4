"""Model files: the network's config and weights (no optimizer state), and their identity;
``CodecModel``, a model file's network as ``encode`` and ``decode`` run it."""

from __future__ import annotations

import copy
import hashlib
from dataclasses import asdict
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .files import atomic_write
from .inference import GDNParameters
from .model import HyperpriorTransforms, ModelConfig, ScaleHyperprior

FORMAT = "yotocodec-model"
VERSION = 1


def _digest(config: ModelConfig, state: dict[str, Tensor]) -> bytes:
    h = hashlib.sha256(repr(sorted(asdict(config).items())).encode())
    for key, value in sorted(state.items()):
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.digest()[:8]


def model_id(model: ScaleHyperprior | CodecModel) -> bytes:
    """8-byte identity of a model: SHA-256 over its config and every tensor, in key order."""
    return model.id if isinstance(model, CodecModel) else _digest(model.config, model.state_dict())


_TABLES = ("entropy_bottleneck.quantiles", "entropy_bottleneck._offset", "entropy_bottleneck._quantized_cdf",
           "entropy_bottleneck._cdf_length", "gaussian_conditional.scale_table")  # fmt: skip
"""The entropy models' entries that coding reads: z's medians and integer CDF tables, y's scales."""


class CodecModel(HyperpriorTransforms):
    """A model file's network as the codec runs it, built without importing compressai (~3 s
    of every ``yoto encode``/``decode`` otherwise): g_a, g_s, h_a, h_s with GDN as stored
    (``inference.GDNParameters``), the factorized prior's frozen integer tables, the scale
    table and the model's id. ``network`` is the trainable ``ScaleHyperprior`` with the same
    weights (refinement and evaluation need its entropy models)."""

    @torch.inference_mode(False)  # refinement takes gradients through these weights' g_s
    def __init__(self, config: ModelConfig, state: dict[str, Tensor], network: ScaleHyperprior | None = None):
        with torch.device("meta"):
            super().__init__(config, GDNParameters)
        own = self.state_dict().keys()
        missing = (own | set(_TABLES)) - state.keys()
        if missing:
            raise ValueError(f"the model's weights lack {sorted(missing)[0]} (and {len(missing) - 1} more)")
        self.load_state_dict({k: state[k] for k in own}, assign=True)
        self._state = state
        quantiles, offset, self._cdfs, self._cdf_lengths, scales = (state[k] for k in _TABLES)
        self._medians = quantiles[:, 0, 1].reshape(1, -1, 1, 1)
        self._offset = offset.reshape(1, -1, 1, 1)
        self._scales = scales.numpy().astype(np.float64)
        if network is not None:  # bypasses nn.Module's attribute hook: not a submodule
            self.__dict__["network"] = network

    @classmethod
    def of(cls, model: ScaleHyperprior) -> CodecModel:
        """``model`` as the codec runs it (sharing its tensors; ``model.update()`` first)."""
        return cls(model.config, {k: v.detach() for k, v in model.state_dict().items()}, model)

    @cached_property
    def id(self) -> bytes:
        """The 8-byte identity ``model_id`` gives the same network."""
        return _digest(self.config, self._state)

    @cached_property
    def network(self) -> ScaleHyperprior:
        """The trainable ``ScaleHyperprior`` with these weights (imports compressai)."""
        with torch.inference_mode(False):
            model = ScaleHyperprior(self.config)
            load_weights(model, self._state)
        return model.eval()

    def z_symbols(self, z: Tensor) -> Tensor:
        """Integer symbols of z: per-channel indexes into the prior's table (clamped to it)."""
        s = torch.round(z - self._medians).to(torch.int64) - self._offset
        upper = (self._cdf_lengths - 3).reshape(1, -1, 1, 1).to(torch.int64)
        return torch.minimum(s.clamp(min=0), upper)

    def z_hat(self, symbols: Tensor) -> Tensor:
        """ẑ from the symbols of ``z_symbols`` (inverse map, exact on both sides)."""
        return (symbols + self._offset).to(self._medians.dtype) + self._medians

    def z_pmfs(self) -> list[np.ndarray]:
        """Per-channel probability table of the z symbols, from the integer CDFs."""
        if self._cdfs.numel() == 0:
            raise RuntimeError("the prior's tables are missing: call model.update() first")
        return [np.diff(np.asarray(cdf[: n - 1], dtype=np.float64))
                for cdf, n in zip(self._cdfs.tolist(), self._cdf_lengths.tolist())]  # fmt: skip

    def scales(self) -> np.ndarray:
        """The scale table (float64) that the y stream's scale indexes point into."""
        return self._scales


def atomic_save(obj: object, path: str | Path) -> None:
    """``torch.save`` so that ``path`` is either complete or untouched."""
    def save(tmp: str) -> None:
        try:
            torch.save(obj, tmp)
        except RuntimeError as e:  # torch's zip writer reports a failed write so (a full disk, ...)
            raise OSError(f"writing {path} failed (is the disk full?): {e}") from None

    atomic_write(path, save)


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
    if not path.exists():
        raise FileNotFoundError(f"{kind} not found: {path}")
    if not path.is_file():
        raise ValueError(f"{path} is not a {kind}: it is not a regular file")
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
def load_codec_model(path: str | Path) -> CodecModel:
    """Load a model file safely (``weights_only``) and check it against its recorded id."""
    blob = read_dict(path, "model file", ("format",))
    if blob["format"] != FORMAT:
        raise ValueError(f"{path} is not a yotocodec model file")
    if blob.get("version") != VERSION:
        raise ValueError(f"{path} has model format version {blob.get('version')}, expected {VERSION}")
    try:
        state = {k: v.float() if v.dtype == torch.float16 else v for k, v in blob["state_dict"].items()}
        model = CodecModel(ModelConfig(**blob["config"]), state)
        recorded = blob["model_id"]
    except KeyError as e:
        raise ValueError(f"{path} is not a complete yotocodec model file: it has no {e}") from None
    except (TypeError, ValueError, AttributeError, RuntimeError) as e:  # parts that do not fit together
        why = " ".join(line.strip() for line in str(e).splitlines()[:2])[:200] or type(e).__name__
        raise ValueError(f"{path} is not a complete yotocodec model file: {why}") from None
    if model.id.hex() != recorded:
        raise ValueError(f"{path} is corrupted: its weights do not match its recorded id")
    return model


def load_model(path: str | Path) -> ScaleHyperprior:
    """The trainable network in a model file (``load_codec_model``'s checks; imports compressai)."""
    return load_codec_model(path).network


def load_weights(model: ScaleHyperprior, state: dict) -> None:
    """``model.load_state_dict(state)``, with the prior's CDF buffers (empty in a new model,
    filled once it has been frozen) resized to the state's first."""
    eb = model.entropy_bottleneck
    for name in ("_quantized_cdf", "_offset", "_cdf_length"):
        key = f"entropy_bottleneck.{name}"
        if key in state:
            setattr(eb, name, torch.zeros_like(state[key]))
    model.load_state_dict(state)
