"""Rate–distortion of a yotocodec model on an image folder (default: Kodak) against JPEG 4:4:4.

Real bitstreams (file bytes), PSNR on RGB, averaged over images per operating point
(CompressAI's convention). Writes JSON, a Markdown table and a PNG plot to --out.

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
LMBDAS = np.geomspace(LMBDA_MIN, LMBDA_MAX, 12).round(6).tolist()
JPEG_QUALITIES = [5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95]
BPP_GRID = [0.25, 0.5, 0.75, 1.0, 1.25, 1.5]


def yoto_point(image: Image.Image, lmbda: float, model) -> dict:
    t0 = time.perf_counter()
    data = codec.encode(image, lmbda, model)
    t1 = time.perf_counter()
    decoded = codec.decode(data, model)
    t2 = time.perf_counter()
    return {"bpp": 8 * len(data) / (image.width * image.height), "psnr": psnr(image, decoded),
            "enc_s": t1 - t0, "dec_s": t2 - t1}  # fmt: skip


def jpeg_point(image: Image.Image, quality: int) -> dict:
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality, subsampling=0)
    decoded = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return {"bpp": 8 * buf.tell() / (image.width * image.height), "psnr": psnr(image, decoded)}


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
    """Bjøntegaard-delta rate (%) of ``test`` against ``anchor`` (negative: test saves bits)."""
    import bjontegaard

    r = lambda c: [p["bpp"] for p in c]  # noqa: E731
    d = lambda c: [p["psnr"] for p in c]  # noqa: E731
    return float(bjontegaard.bd_rate(r(anchor), d(anchor), r(test), d(test), method="akima",
                                     require_matching_points=False, min_overlap=0.0))  # fmt: skip


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
    args = p.parse_args()
    model = codec.load(args.model)
    images = [read_image(f) for f in list_images(args.data)]
    ours, jpeg = [], []
    for image in tqdm(images, desc="images"):
        ours.append([yoto_point(image, lm, model) for lm in LMBDAS])
        jpeg.append([jpeg_point(image, q) for q in JPEG_QUALITIES])
    curves = {"yotocodec": average(ours), "JPEG 4:4:4 (Pillow)": average(jpeg)}
    grid = [{"bpp": b, "yotocodec": psnr_at(curves["yotocodec"], b),
             "jpeg": psnr_at(curves["JPEG 4:4:4 (Pillow)"], b)} for b in BPP_GRID]  # fmt: skip
    result = {"model_id": model_id(model).hex(), "model": str(args.model or codec.DEFAULT_MODEL),
              "dataset": args.data, "images": len(images), "lmbdas": LMBDAS,
              "jpeg_qualities": JPEG_QUALITIES, "curves": curves, "psnr_at_bpp": grid,
              "bd_rate_vs_jpeg_percent": bd_rate(curves["JPEG 4:4:4 (Pillow)"], curves["yotocodec"])}  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "kodak_rd.json").write_text(json.dumps(result, indent=1))
    plot(curves, out / "kodak_rd.png")
    print(markdown(result))


def markdown(result: dict) -> str:
    rows = ["| λ | bpp | PSNR (dB) | encode (s) | decode (s) |", "|---|---|---|---|---|"]
    for lm, pt in zip(result["lmbdas"], result["curves"]["yotocodec"]):
        rows.append(f"| {lm:g} | {pt['bpp']:.3f} | {pt['psnr']:.2f} | {pt['enc_s']:.2f} | {pt['dec_s']:.2f} |")
    rows += ["", "| bpp | yotocodec PSNR | JPEG 4:4:4 PSNR | Δ (dB) |", "|---|---|---|---|"]
    for g in result["psnr_at_bpp"]:
        rows.append(f"| {g['bpp']:.2f} | {g['yotocodec']:.2f} | {g['jpeg']:.2f} | {g['yotocodec'] - g['jpeg']:+.2f} |")
    rows.append(f"\nBD-rate vs JPEG 4:4:4: {result['bd_rate_vs_jpeg_percent']:+.1f} % "
                f"(model {result['model_id']}, {result['images']} images)")  # fmt: skip
    return "\n".join(rows)


if __name__ == "__main__":
    main()
