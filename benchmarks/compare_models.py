"""Does a candidate model beat another (by default the shipped one)? BD-rate on real files.

    python benchmarks/compare_models.py CANDIDATE [--baseline MODEL] [--dataset kodak|PATH]
                                        [--cache FILE]

Both models code every image of the dataset at rd.py's 12 λ (points cached in ``--cache``,
keyed by model id, so a rerun or a third model costs only what is new); prints both curves
and the candidate's BD-rate against the baseline at equal PSNR and at equal MS-SSIM
(negative: the candidate needs fewer bits). The shipped weights are replaced only when these
clear the bar stated at the end of the README's *The shipped model*.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import rd
from yotocodec.data import list_images
from yotocodec.files import read_image


def compare(candidate: str, baseline: str | None, dataset: str, cache: Path) -> dict:
    """The two curves and the candidate's BD-rates (%) against the baseline."""
    images = {f.name: read_image(f) for f in list_images(rd.find_dataset(dataset))}
    points = rd.PointCache(cache)
    codecs = {role: rd.yotocodec_codec(path) for role, path in (("baseline", baseline), ("candidate", candidate))}
    curves = {role: rd.curve(c, images, points) for role, c in codecs.items()}  # both models loaded first
    bd = {m: rd.bd_rate(curves["baseline"], curves["candidate"], m) for m in ("psnr", "ms_ssim")}
    return {"images": len(images), "curves": curves, "bd_rate_percent": bd}


def report(result: dict, candidate: str, baseline: str | None) -> str:
    lines = [f"{result['images']} images; baseline {baseline or 'the shipped model'}, candidate {candidate}", "",
             "| λ | baseline bpp | PSNR | candidate bpp | PSNR |", "|---|---|---|---|---|"]  # fmt: skip
    for b, c in zip(result["curves"]["baseline"], result["curves"]["candidate"]):
        lines.append(f"| {b['param']:g} | {b['bpp']:.3f} | {b['psnr']:.2f} | {c['bpp']:.3f} | {c['psnr']:.2f} |")
    bd = result["bd_rate_percent"]
    lines += ["", f"BD-rate of the candidate: {bd['psnr']:+.1f} % (PSNR), {bd['ms_ssim']:+.1f} % (MS-SSIM)"]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("candidate", help="model file to test")
    p.add_argument("--baseline", help="model file to beat (default: the shipped model)")
    p.add_argument("--dataset", default="kodak", help="kodak, tecnick, clic or an image folder")
    p.add_argument("--cache", type=Path, help="points file (default: in the temp folder, per dataset)")
    args = p.parse_args()
    cache = args.cache or Path(tempfile.gettempdir()) / f"yotocodec-compare-{Path(args.dataset).name}.jsonl"
    try:
        result = compare(args.candidate, args.baseline, args.dataset, cache)
    except (ValueError, FileNotFoundError) as e:
        sys.exit(f"compare_models: error: {e}")
    sys.stdout.write(report(result, args.candidate, args.baseline) + "\n")


if __name__ == "__main__":
    main()
