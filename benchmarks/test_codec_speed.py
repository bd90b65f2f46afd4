"""Encode/decode speed of a 768×512 Kodak image: yotocodec vs CompressAI, side by side in one run.

The peer is CompressAI's ``ScaleHyperprior(N, M)`` ``compress``/``decompress`` carrying our
shipped network's weights with FiLM folded at the same λ, so both code the same latents at
the same rate; ours pays for its λ-conditioning (FiLM folded per call) inside the timing.
Also measured: our entropy coding alone (its share of the time), a dense ``conv2d``'s
throughput (the machine's reference GMAC/s) and peak memory of each operation. Run with

    .venv/bin/python -m pytest benchmarks/test_codec_speed.py --benchmark-group-by=param:op \\
        --benchmark-json=benchmarks/results/codec_speed.json

and ``benchmarks/codec_speed_report.py`` turns the JSON into the README's table.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from compressai.layers import GDN
from compressai.models import ScaleHyperprior as PlainHyperprior
from PIL import Image
from torch import nn

import yotocodec
from yotocodec import codec, entropy, inference
from yotocodec.conditioning import FiLM
from yotocodec.modelfile import model_id

ROOT = Path(__file__).resolve().parents[1]
IMAGE = ROOT / "data" / "samples" / "kodim23.png"
LMBDA = 0.01
ROUNDS = dict(rounds=20, warmup_rounds=2, iterations=1)


@pytest.fixture(scope="module")
def image() -> Image.Image:
    return Image.open(IMAGE).convert("RGB")


@pytest.fixture(scope="module")
def model():
    return codec.load()


@pytest.fixture(scope="module")
def setting(image, model) -> dict:
    """What the codec benchmarks ran on, recorded with each of them for the report."""
    return {"model": model_id(model).hex(), "image": f"{image.width}×{image.height} image ({IMAGE.stem})", "lmbda": LMBDA}


@torch.no_grad()
def compressai_twin(model) -> PlainHyperprior:
    """CompressAI's ScaleHyperprior holding ``model``'s network at λ = LMBDA (FiLM folded)."""
    twin = PlainHyperprior(model.config.N, model.config.M).eval()
    t = model.condition(torch.tensor([LMBDA]))
    for name in ("g_a", "h_a", "h_s", "g_s"):
        ours = list(getattr(model, name))
        plain = [layer for layer in ours if not isinstance(layer, FiLM)]
        films = {id(a): b for a, b in zip(ours, ours[1:]) if isinstance(b, FiLM)}
        for src, dst in zip(plain, getattr(twin, name), strict=True):
            if isinstance(src, (nn.Conv2d, nn.ConvTranspose2d)):
                sigma, mu = (c.flatten() for c in films[id(src)].coefficients(t))
                shape = (1, -1, 1, 1) if isinstance(src, nn.ConvTranspose2d) else (-1, 1, 1, 1)
                dst.weight.copy_(src.weight * sigma.reshape(shape))
                dst.bias.copy_(src.bias * sigma + mu)
            elif isinstance(src, GDN):
                dst.load_state_dict(src.state_dict())
    params = {k: v for k, v in model.entropy_bottleneck.state_dict().items() if not k.startswith("_")}
    twin.entropy_bottleneck.load_state_dict(params, strict=False)
    twin.update(force=True)
    return twin


def _tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)[None].float() / 255


def conv_macs(fn, *args) -> int:
    """Multiply-accumulates of every convolution run by ``fn(*args)`` (GDN's 1×1 ones included)."""
    macs = 0

    def count(module, inputs, output):
        nonlocal macs
        if isinstance(module, nn.Conv2d):
            w = module.weight
            macs += output.numel() * w.shape[1] * w.shape[2] * w.shape[3]
        elif isinstance(module, nn.ConvTranspose2d):  # every input element meets the whole kernel
            w = module.weight
            macs += inputs[0].numel() * w.shape[1] * w.shape[2] * w.shape[3]
        elif isinstance(module, (GDN, inference.FrozenGDN)):
            macs += output.numel() * output.shape[1]

    hook = torch.nn.modules.module.register_module_forward_hook(count)
    try:
        fn(*args)
    finally:
        hook.remove()
    return macs


def peak_rss_mb(codec_name: str, op: str, arg, tmp: Path) -> float:
    """Peak RSS growth (MB) while a fresh process, model loaded, runs ``op`` once on ``arg`` (Linux)."""
    torch.save(arg, tmp / "arg.pt")
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import test_codec_speed as b; "
            f"b._peak({codec_name!r}, {op!r}, {str(tmp / 'arg.pt')!r})")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.split()[-1])


def _status_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status (Linux), in MB."""
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def _peak(codec_name: str, op: str, arg_path: str) -> None:
    fn = dict(zip(("encode", "decode"), _operations(codec_name, codec.load())))[op]
    arg = torch.load(arg_path, weights_only=False)
    Path("/proc/self/clear_refs").write_text("5")  # resets the peak (VmHWM) to the current RSS
    before = _status_mb("VmRSS")
    fn(arg)
    print(_status_mb("VmHWM") - before)


def _operations(codec_name: str, model):
    """(encode, decode) of one codec, each a one-argument callable."""
    if codec_name == "yotocodec":
        return (lambda im: codec.encode(im, LMBDA, model)), (lambda data: codec.decode(data, model))
    twin = compressai_twin(model.network)

    def encode(image):
        with torch.inference_mode():
            return twin.compress(_tensor(image))

    def decode(out):
        with torch.inference_mode():
            return twin.decompress(out["strings"], out["shape"])

    return encode, decode


@pytest.mark.parametrize("codec_name", ["compressai", "yotocodec"])
@pytest.mark.parametrize("op", ["encode", "decode"])
def test_codec(benchmark, image, model, setting, tmp_path, op, codec_name):
    encode, decode = _operations(codec_name, model)
    fn, arg = (encode, image) if op == "encode" else (decode, encode(image))
    out = fn(arg)
    benchmark.extra_info["bytes"] = len(arg if op == "decode" else out) if codec_name == "yotocodec" else \
        sum(len(s[0]) for s in (arg if op == "decode" else out)["strings"])  # fmt: skip
    benchmark.extra_info["gmac"] = conv_macs(fn, arg) / 1e9
    benchmark.extra_info["peak_rss_mb"] = peak_rss_mb(codec_name, op, arg, tmp_path)
    benchmark.extra_info.update(setting)
    benchmark.pedantic(fn, args=(arg,), **ROUNDS)


@pytest.mark.parametrize("op", ["encode", "decode"])
def test_entropy_coding(benchmark, image, model, op):
    """Our constriction range coding alone, on the image's own symbols and scales."""
    with torch.inference_mode():
        tf = inference.Transforms(model, model.condition(torch.tensor([LMBDA])))
        y = tf.g_a(codec._pad(_tensor(image), 64))
        z_symbols = model.z_symbols(tf.h_a(torch.abs(y)))
        indexes = codec._hyper_synthesis(model, codec._rate(LMBDA, model).k)(model.z_hat(z_symbols)).flatten().numpy()
    y_symbols = torch.round(y).to(torch.int64).flatten().numpy()
    z_rows, pmfs, y_range = z_symbols[0].flatten(1).numpy(), model.z_pmfs(), int(np.abs(y_symbols).max())
    scales = model.scales()

    def encode():
        return entropy.encode_categorical(z_rows, pmfs), entropy.encode_gaussian(y_symbols, indexes, scales, y_range)

    def decode(streams):
        entropy.decode_categorical(streams[0], pmfs, z_rows.shape[1])
        entropy.decode_gaussian(streams[1], indexes, scales, y_range)

    if op == "encode":
        benchmark.pedantic(encode, **ROUNDS)
    else:
        benchmark.pedantic(decode, args=(encode(),), **ROUNDS)


@pytest.mark.parametrize("op", ["dense-conv"])
def test_dense_conv(benchmark, op):
    """The machine's reference throughput: a 64→64 5×5 conv2d on 192×128, channels-last."""
    conv = nn.Conv2d(64, 64, 5, padding=2)
    x = torch.randn(1, 64, 128, 192).contiguous(memory_format=torch.channels_last)
    benchmark.extra_info["gmac"] = x.numel() * 64 * 25 / 1e9

    def run():
        with torch.inference_mode():
            conv(x)

    benchmark.pedantic(run, **ROUNDS)


@pytest.mark.parametrize("op", ["encode lmbda=0.01", "encode size=20KB"])
def test_rate_control(benchmark, image, model, op):
    """Hitting a size target (a few real encodes) against one fixed-λ encode."""
    key, value = op.split()[1].split("=")
    setting = {"lmbda": float(value)} if key == "lmbda" else {"size": value}
    benchmark.extra_info["bytes"] = len(yotocodec.encode(image, model=model, **setting))
    benchmark.pedantic(yotocodec.encode, args=(image,), kwargs=dict(model=model, **setting), **ROUNDS)
