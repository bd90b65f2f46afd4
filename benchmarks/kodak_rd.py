"""Rate–distortion of a yotocodec model on an image folder (default: Kodak) against classical codecs.

Real bitstreams (file bytes), PSNR on RGB, averaged over images per operating point
(CompressAI's convention). Baselines run here: JPEG 4:4:4 and WebP (Pillow), HEVC-intra 4:4:4
(x265 through pillow-heif; the HEIF container's few hundred bytes are counted). Published
curves from benchmarks/reference/ are added for comparison. Writes JSON, a Markdown table
and a PNG plot to --out; the baselines are cached in kodak_baselines.json.

    python benchmarks/kodak_rd.py [--model M] [--data ../shared/data/kodak] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from yotocodec import codec
from yotocodec.conditioning import LMBDA_MAX, LMBDA_MIN
from yotocodec.data import list_images
from yotocodec.files import read_image
from yotocodec.metrics import psnr
from yotocodec.modelfile import model_id

ROOT = Path(__file__).resolve().parents[1]
REFERENCES = sorted((ROOT / "benchmarks" / "reference").glob("*.json"))
LMBDAS = np.geomspace(LMBDA_MIN, LMBDA_MAX, 12).round(6).tolist()
BPP_GRID = [0.15, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5]


def yoto_point(image: Image.Image, lmbda: float, model) -> dict:
    t0 = time.perf_counter()
    data = codec.encode(image, lmbda, model)
    t1 = time.perf_counter()
    decoded = codec.decode(data, model)
    t2 = time.perf_counter()
    return {"bpp": 8 * len(data) / (image.width * image.height), "psnr": psnr(image, decoded),
            "enc_s": t1 - t0, "dec_s": t2 - t1}  # fmt: skip


def pillow_point(image: Image.Image, fmt: str, **params) -> dict:
    """bpp (whole file) and PSNR of ``image`` saved by Pillow as ``fmt`` and read back."""
    buf = io.BytesIO()
    image.save(buf, format=fmt, **params)
    decoded = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return {"bpp": 8 * buf.tell() / (image.width * image.height), "psnr": psnr(image, decoded)}


def _heif_point(image: Image.Image, quality: int) -> dict:
    import pillow_heif

    pillow_heif.register_heif_opener()
    return pillow_point(image, "HEIF", quality=quality, chroma=444)


BASELINES = {
    "JPEG 4:4:4 (Pillow)": (lambda im, q: pillow_point(im, "JPEG", quality=q, subsampling=0),
                            [5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95]),
    "WebP (Pillow, method 6)": (lambda im, q: pillow_point(im, "WEBP", quality=q, method=6),
                                [5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95]),
    "HEVC-intra 4:4:4 (x265 in HEIF)": (_heif_point, [10, 20, 30, 40, 50, 60, 70, 80, 90]),
}  # fmt: skip
"""Classical codecs, run here: name -> (point(image, quality), qualities)."""


def codec_versions() -> dict[str, str]:
    import PIL
    import pillow_heif

    return {"Pillow": PIL.__version__, "pillow-heif": pillow_heif.__version__,
            "x265": pillow_heif.libheif_info()["encoders"].get("x265", "")}  # fmt: skip


def baselines(images: dict[str, Image.Image], path: Path, again: bool) -> dict[str, list[dict]]:
    """RD curves of BASELINES on ``images``, cached in ``path`` (they do not depend on our model)."""
    settings = {"images": sorted(images), "qualities": {k: q for k, (_, q) in BASELINES.items()},
                "versions": codec_versions()}  # fmt: skip
    if path.exists() and not again:
        cached = json.loads(path.read_text())
        if cached["settings"] == settings:
            return cached["curves"]
    curves = {}
    for name, (point, qualities) in BASELINES.items():
        per_image = [[point(im, q) for q in qualities] for im in tqdm(images.values(), desc=name)]
        curves[name] = average(per_image)
    path.write_text(json.dumps({"settings": settings, "curves": curves}, indent=1))
    return curves


def references() -> dict[str, list[dict]]:
    """Published curves (not re-run here), from benchmarks/reference/*.json."""
    return {r["name"]: r["curve"] for r in (json.loads(p.read_text()) for p in REFERENCES)}


def average(per_image: list[list[dict]]) -> list[dict]:
    """Mean of every metric over images, per operating point."""
    return [{k: float(np.mean([img[i][k] for img in per_image])) for k in per_image[0][i]}
            for i in range(len(per_image[0]))]  # fmt: skip


def psnr_at(curve: list[dict], bpp: float) -> float:
    """PSNR of a curve at ``bpp`` (linear in log-rate); NaN outside the curve."""
    rates = np.log([p["bpp"] for p in curve])
    order = np.argsort(rates)
    return float(np.interp(np.log(bpp), rates[order], np.array([p["psnr"] for p in curve])[order],
                           left=np.nan, right=np.nan))  # fmt: skip


def bd_rate(anchor: list[dict], test: list[dict]) -> float:
    """Bjøntegaard-delta rate (%) of ``test`` against ``anchor`` (negative: test saves bits).

    NaN when a curve's PSNR is not strictly increasing with rate (BD-rate is undefined then).
    """
    import bjontegaard

    r = lambda c: [p["bpp"] for p in c]  # noqa: E731
    d = lambda c: [p["psnr"] for p in c]  # noqa: E731
    try:
        return float(bjontegaard.bd_rate(r(anchor), d(anchor), r(test), d(test), method="akima",
                                         require_matching_points=False, min_overlap=0.0))  # fmt: skip
    except ValueError:
        return float("nan")


def plot(curves: dict[str, list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, curve in curves.items():
        ax.plot([p["bpp"] for p in curve], [p["psnr"] for p in curve], "o-", ms=3, label=name)
    ax.set(xlabel="bits per pixel", ylabel="PSNR RGB (dB)", title="Kodak (24 images)", xlim=(0, 2.2))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="model file (default: the shipped model)")
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "kodak"))
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    p.add_argument("--baselines-again", action="store_true", help="re-run the classical codecs even if cached")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = codec.load(args.model)
    images = {f.name: read_image(f) for f in list_images(args.data)}
    ours = [[yoto_point(im, lm, model) for lm in LMBDAS] for im in tqdm(images.values(), desc="yotocodec")]
    curves = {"yotocodec": average(ours)} | baselines(images, out / "kodak_baselines.json", args.baselines_again)
    curves |= references()
    others = [name for name in curves if name != "yotocodec"]
    result = {"model_id": model_id(model).hex(), "model": str(args.model or codec.DEFAULT_MODEL),
              "dataset": args.data, "images": len(images), "lmbdas": LMBDAS, "curves": curves,
              "psnr_at_bpp": [{"bpp": b} | {n: psnr_at(c, b) for n, c in curves.items()} for b in BPP_GRID],
              "bd_rate_percent": {n: bd_rate(curves[n], curves["yotocodec"]) for n in others}}  # fmt: skip
    (out / "kodak_rd.json").write_text(json.dumps(result, indent=1))
    (out / "kodak_rd.md").write_text(markdown(result) + "\n")
    plot(curves, out / "kodak_rd.png")
    print(markdown(result))


def markdown(result: dict) -> str:
    rows = ["| λ | bpp | PSNR (dB) | encode (s) | decode (s) |", "|---|---|---|---|---|"]
    for lm, pt in zip(result["lmbdas"], result["curves"]["yotocodec"]):
        rows.append(f"| {lm:g} | {pt['bpp']:.3f} | {pt['psnr']:.2f} | {pt['enc_s']:.2f} | {pt['dec_s']:.2f} |")
    names = list(result["curves"])
    rows += ["", "PSNR (dB) at equal rate (interpolated in log bpp; – outside a curve):", "",
             "| bpp | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]  # fmt: skip
    for g in result["psnr_at_bpp"]:
        rows.append(f"| {g['bpp']:.2f} | " + " | ".join("–" if np.isnan(g[n]) else f"{g[n]:.2f}" for n in names) + " |")
    rows += ["", f"BD-rate of yotocodec (model {result['model_id']}, {result['images']} images; negative = fewer bits):", ""]
    rows += [f"- vs {n}: {v:+.1f} %" for n, v in result["bd_rate_percent"].items()]
    return "\n".join(rows)


if __name__ == "__main__":
    main()
