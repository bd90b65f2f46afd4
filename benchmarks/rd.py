"""Rate–distortion benchmark: yotocodec against classical codecs on an image folder, real files.

    python benchmarks/rd.py [--dataset kodak|tecnick|clic|PATH] [--model M] [--codecs KEY ...]
                            [--refine STEPS]

Every codec codes every image at every quality (λ for yotocodec); each point records the file's
bytes as bpp, PSNR and MS-SSIM on RGB, and encode and decode seconds. Points are cached in
OUT/DATASET/points.jsonl (keyed by codec version), so an interrupted run resumes and the
classical codecs run once. ``--refine STEPS`` adds the curve of ``yoto encode --refine STEPS``
(encoder-side refinement) at 6 λ, with its BD-rates (~30 s per Kodak image and λ at 50 steps
with an N=128/M=192 model; to split the images over processes, give each OMP_NUM_THREADS=1 and
one folder, named like the dataset, of links to its share, with the same --out).
Writes, in OUT/DATASET/:
  <codec>.json      averaged curves in CompressAI's results layout;
  rd.md             PSNR at fixed rates and BD-rates (PSNR, MS-SSIM) of yotocodec vs each curve;
  rd-psnr.png, rd-ms-ssim.png.
Published curves from benchmarks/reference/*.json (CompressAI's layout, source noted) are
added when the dataset is Kodak.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from yotocodec import codec, refine
from yotocodec.bitstream import VERSION
from yotocodec.lmbda import LMBDA_MAX, LMBDA_MIN
from yotocodec.data import list_images
from yotocodec.files import read_image
from yotocodec.losses import ms_ssim_per_sample
from yotocodec.metrics import psnr
from yotocodec.modelfile import model_id

ROOT = Path(__file__).resolve().parents[1]
DATASETS = {
    "kodak": [ROOT.parent / "shared" / "data" / "kodak", ROOT / "data" / "kodak"],
    "tecnick": [ROOT.parent / "shared" / "data" / "tecnick", ROOT / "data" / "tecnick"],
    "clic": [ROOT.parent / "shared" / "data" / "clic", ROOT / "data" / "clic"],
}
REFERENCES = sorted((ROOT / "benchmarks" / "reference").glob("*.json"))
LMBDAS = np.geomspace(LMBDA_MIN, LMBDA_MAX, 12).round(6).tolist()
REFINE_LMBDAS = np.geomspace(LMBDA_MIN, LMBDA_MAX, 6).round(6).tolist()
BPP_GRID = [0.15, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5]


@dataclass
class Codec:
    """One codec under test: ``encode(image, param) -> bytes``, ``decode(bytes) -> image``."""

    key: str
    name: str
    params: list
    encode: Callable[[Image.Image, float], bytes]
    decode: Callable[[bytes], Image.Image]
    version: str


def _pillow(key: str, name: str, fmt: str, params: list, param_option: Callable, version: str, **options) -> Codec:
    def encode(image: Image.Image, param) -> bytes:
        buf = io.BytesIO()
        image.save(buf, format=fmt, **param_option(param), **options)
        return buf.getvalue()

    return Codec(key, name, params, encode, lambda data: Image.open(io.BytesIO(data)).convert("RGB"), version)


def classical_codecs() -> list[Codec]:
    """The classical codecs, through Pillow and its plugins, with quality sweeps over ~0.1–2 bpp."""
    import PIL
    import pillow_heif
    import pillow_jxl  # noqa: F401  (registers JXL with Pillow)
    from PIL import features

    pillow_heif.register_heif_opener()
    q = lambda v: {"quality": v}  # noqa: E731
    pil = f"Pillow {PIL.__version__}"
    return [
        _pillow("jpeg444", "JPEG 4:4:4", "JPEG", [5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95], q,
                f"{pil} libjpeg-turbo {features.version('jpg')}", subsampling=0),
        _pillow("webp", "WebP", "WEBP", [5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95], q,
                f"{pil} libwebp {features.version('webp')}", method=6),
        _pillow("jpeg2000", "JPEG 2000", "JPEG2000", [0.1, 0.15, 0.25, 0.4, 0.6, 0.8, 1.0, 1.5, 2.0],
                lambda bpp: {"quality_layers": [24 / bpp]}, f"{pil} openjpeg {features.version('jpg_2000')}",
                quality_mode="rates", irreversible=True),
        _pillow("avif444", "AVIF 4:4:4", "AVIF", [10, 20, 30, 40, 50, 60, 70, 80, 90], q,
                f"{pil} libavif {features.version('avif')}", subsampling="4:4:4", speed=4),
        _pillow("jxl", "JPEG XL", "JXL", [10, 20, 30, 40, 50, 60, 70, 80, 90, 95], q,
                f"pillow-jxl-plugin {_version('pillow-jxl-plugin')}", effort=7),
        _pillow("hevc444", "HEVC-intra 4:4:4 (x265)", "HEIF", [10, 20, 30, 40, 50, 60, 70, 80, 90], q,
                f"pillow-heif {pillow_heif.__version__} {pillow_heif.libheif_info()['encoders'].get('x265', '')}",
                chroma=444),
    ]  # fmt: skip


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


def yotocodec_codec(model_path: str | None, steps: int = 0) -> Codec:
    """Our codec; with ``steps``, encoding refines the latents that long (``yotocodec.refine``)."""
    model = codec.load(model_path)
    version = f"model {model_id(model).hex()}, format {VERSION}"
    decode = lambda data: codec.decode(data, model)  # noqa: E731
    if not steps:
        return Codec("yotocodec", "yotocodec", LMBDAS, lambda im, lm: codec.encode(im, lm, model), decode, version)
    settings = f"refine {steps} (lr {refine.LR}, τ {refine.TAU_MAX}/{refine.TAU_DECAY}, seed 0)"
    return Codec(f"yotocodec-refine{steps}", f"yotocodec --refine {steps}", REFINE_LMBDAS,
                 lambda im, lm: refine.refine(codec.analyse(im, lm, model), im, steps).pack(),
                 decode, f"{version}, {settings}")  # fmt: skip


def ms_ssim(a: Image.Image, b: Image.Image) -> float:
    """MS-SSIM on RGB in [0, 1] (pytorch_msssim, as CompressAI reports it; images of 160 px
    or less per side get a narrower window, as in training)."""
    t = lambda im: torch.from_numpy(np.asarray(im, dtype=np.float32) / 255).permute(2, 0, 1)[None]  # noqa: E731
    return float(ms_ssim_per_sample(t(b), t(a))[0])


def measure(c: Codec, image: Image.Image, param) -> dict:
    """One point: code ``image`` with ``c`` at ``param``, decode, compare."""
    t0 = time.perf_counter()
    data = c.encode(image, param)
    t1 = time.perf_counter()
    decoded = c.decode(data)
    t2 = time.perf_counter()
    return {"bpp": 8 * len(data) / (image.width * image.height), "psnr": psnr(image, decoded),
            "ms_ssim": ms_ssim(image, decoded), "enc_s": t1 - t0, "dec_s": t2 - t1}  # fmt: skip


class PointCache:
    """Measured points, one JSON line each, keyed by (codec, version, image, param)."""

    def __init__(self, path: Path):
        self.path = path
        self.points = {}
        if path.exists():
            for line in path.read_text().splitlines():
                p = json.loads(line)
                self.points[self._key(p)] = p

    @staticmethod
    def _key(p: dict) -> tuple:
        return p["codec"], p["version"], p["image"], p["param"]

    def get(self, c: Codec, image_name: str, image: Image.Image, param) -> dict:
        key = (c.key, c.version, image_name, param)
        if key not in self.points:
            p = dict(zip(("codec", "version", "image", "param"), key)) | measure(c, image, param)
            with open(self.path, "a") as f:
                f.write(json.dumps(p) + "\n")
            self.points[key] = p
        return self.points[key]


def curve(c: Codec, images: dict[str, Image.Image], cache: PointCache) -> list[dict]:
    """Per-param averages over images (CompressAI's convention)."""
    per_image = [[cache.get(c, name, im, q) for q in c.params] for name, im in tqdm(images.items(), desc=c.key)]
    metrics = ("bpp", "psnr", "ms_ssim", "enc_s", "dec_s")
    return [{"param": q} | {m: float(np.mean([img[i][m] for img in per_image])) for m in metrics}
            for i, q in enumerate(c.params)]  # fmt: skip


def compressai_layout(name: str, description: str, points: list[dict]) -> dict:
    col = lambda k: [p[k] for p in points]  # noqa: E731
    return {"name": name, "description": description,
            "results": {"psnr-rgb": col("psnr"), "ms-ssim-rgb": col("ms_ssim"), "bpp": col("bpp"),
                        "encoding_time": col("enc_s"), "decoding_time": col("dec_s")}}  # fmt: skip


def references() -> dict[str, list[dict]]:
    """Published Kodak curves (CompressAI's layout), as point lists."""
    out = {}
    for path in REFERENCES:
        r = json.loads(path.read_text())
        res = r["results"]
        psnrs, msssim = res.get("psnr-rgb", res.get("psnr")), res.get("ms-ssim-rgb", res.get("ms-ssim"))
        out[r["name"]] = [{"bpp": b, "psnr": p, "ms_ssim": m} for b, p, m in zip(res["bpp"], psnrs, msssim)]
    return out


def quality(point: dict, metric: str) -> float:
    """A point's PSNR, or its MS-SSIM in dB (−10·log10(1 − MS-SSIM)), for BD-rates and plots."""
    return point["psnr"] if metric == "psnr" else -10 * math.log10(1 - point["ms_ssim"])


def pareto(points: list[dict], metric: str = "psnr") -> list[dict]:
    """The points no other point beats (fewer or equal bits and higher quality), by rate."""
    front: list[dict] = []
    for p in sorted(points, key=lambda q: (q["bpp"], -quality(q, metric))):
        if not front or quality(p, metric) > quality(front[-1], metric):
            front.append(p)
    return front


def psnr_at(points: list[dict], bpp: float) -> float:
    """PSNR of a curve at ``bpp`` (linear in log-rate); NaN outside the curve."""
    rates = np.log([p["bpp"] for p in points])
    order = np.argsort(rates)
    return float(np.interp(np.log(bpp), rates[order], np.array([p["psnr"] for p in points])[order],
                           left=np.nan, right=np.nan))  # fmt: skip


def bd_rate(anchor: list[dict], test: list[dict], metric: str = "psnr") -> float:
    """Bjøntegaard-delta rate (%) of ``test`` against ``anchor`` (negative: test saves bits).

    ``metric`` is "psnr" or "ms_ssim" (compared in dB). NaN when a curve's quality is not
    strictly increasing with rate or the curves do not overlap (BD-rate is undefined then).
    """
    import warnings

    import bjontegaard

    r, d = (lambda c: [p["bpp"] for p in c]), (lambda c: [quality(p, metric) for p in c])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return float(bjontegaard.bd_rate(r(anchor), d(anchor), r(test), d(test), method="akima",
                                             require_matching_points=False, min_overlap=0.0))  # fmt: skip
        except ValueError:
            return float("nan")


def plot(curves: dict[str, list[dict]], path: Path, title: str, metric: str = "psnr") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    refs = {json.loads(p.read_text())["name"] for p in REFERENCES}
    fig, ax = plt.subplots(figsize=(7, 5))
    for name, points in curves.items():
        ours = name.startswith("yotocodec")
        style = "o-" if ours else ".--" if name in refs else ".-"
        ax.plot([p["bpp"] for p in points], [quality(p, metric) for p in points], style, ms=4, label=name,
                lw=2.2 if ours else 1.2)  # fmt: skip
    ylabel = "PSNR RGB (dB)" if metric == "psnr" else "MS-SSIM RGB (dB)"
    ax.set(xlabel="bits per pixel", ylabel=ylabel, title=title, xlim=(0, 2.2))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown(result: dict) -> str:
    names = list(result["curves"])
    rows = []
    for ours in result["ours"]:
        rows += [f"{ours}:", "", "| λ | bpp | PSNR (dB) | MS-SSIM | encode (s) | decode (s) |", "|---|---|---|---|---|---|"]
        for p in result["curves"][ours]:
            rows.append(f"| {p['param']:g} | {p['bpp']:.3f} | {p['psnr']:.2f} | {p['ms_ssim']:.4f} | "
                        f"{p['enc_s']:.2f} | {p['dec_s']:.2f} |")  # fmt: skip
        rows.append("")
    rows += ["PSNR (dB) at equal rate (interpolated in log bpp; – outside a curve):", "",
             "| bpp | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]  # fmt: skip
    for b in BPP_GRID:
        cells = [psnr_at(result["curves"][n], b) for n in names]
        rows.append(f"| {b:.2f} | " + " | ".join("–" if np.isnan(v) else f"{v:.2f}" for v in cells) + " |")
    for ours, table in result["bd_rate_percent"].items():
        rows += ["", f"BD-rate of {ours} ({result['version']}; {result['images']} images; negative = fewer bits):",
                 "", "| anchor | BD-rate (PSNR) | BD-rate (MS-SSIM) |", "|---|---|---|"]  # fmt: skip
        for n, v in table.items():
            rows.append(f"| {n} | {v['psnr']:+.1f} % | {v['ms_ssim']:+.1f} % |")
    return "\n".join(rows)


def find_dataset(name: str) -> Path:
    for candidate in DATASETS.get(name, [Path(name)]):
        if candidate.is_dir():
            return candidate
    hint = f"run data/download_{name}.py" if name in DATASETS else "pass an image folder"
    raise SystemExit(f"rd.py: dataset {name!r} not found ({hint})")


def run(dataset: str, model: str | None, out: Path, keys: list[str] | None, refine_steps: int = 0) -> dict:
    folder = find_dataset(dataset)
    label = dataset if dataset in DATASETS else folder.name
    out = out / label
    out.mkdir(parents=True, exist_ok=True)
    images = {f.name: read_image(f) for f in list_images(folder)}
    cache = PointCache(out / "points.jsonl")
    ours = [yotocodec_codec(model)] + ([yotocodec_codec(model, refine_steps)] if refine_steps else [])
    codecs = ours + [c for c in classical_codecs() if keys is None or c.key in keys]
    curves, files = {}, {}
    for c in codecs:
        curves[c.name] = curve(c, images, cache)
        files[c.key] = compressai_layout(c.name, c.version, curves[c.name])
        (out / f"{c.key}.json").write_text(json.dumps(files[c.key], indent=1))
    if label == "kodak":
        curves |= references()
    names = [c.name for c in ours]
    anchors = [n for n in curves if n not in names]
    bd = {o: {n: {m: bd_rate(curves[n], curves[o], m) for m in ("psnr", "ms_ssim")} for n in names[:i] + anchors}
          for i, o in enumerate(names)}  # fmt: skip
    result = {"dataset": str(folder), "images": len(images), "version": ours[0].version, "ours": names,
              "curves": curves, "bd_rate_percent": bd}  # fmt: skip
    (out / "rd.json").write_text(json.dumps(result, indent=1))
    (out / "rd.md").write_text(markdown(result) + "\n")
    title = f"{label} ({len(images)} images)"
    plot(curves, out / "rd-psnr.png", title)
    plot(curves, out / "rd-ms-ssim.png", title, "ms_ssim")
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="kodak", help="kodak, tecnick, clic or an image folder")
    p.add_argument("--model", help="model file (default: the shipped model)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    p.add_argument("--codecs", nargs="*", help="classical codecs to run (keys; default: all)")
    p.add_argument("--refine", type=int, default=0, metavar="STEPS", help="add yotocodec --refine STEPS")
    args = p.parse_args()
    sys.stdout.write(markdown(run(args.dataset, args.model, Path(args.out), args.codecs, args.refine)) + "\n")


if __name__ == "__main__":
    main()
