"""Summarise ``benchmarks/results/codec_speed.json`` (from test_codec_speed.py) as a table.

Writes ``benchmarks/results/codec_speed.md``: per operation, the median (and min) time of
yotocodec and of CompressAI's same network, their ratio, our entropy coding's share, the
convolution throughput achieved against a dense conv2d's, and peak memory.
"""

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def main(path: Path = RESULTS / "codec_speed.json") -> str:
    runs = json.loads(path.read_text())
    bench = {(b["params"]["op"], b["params"].get("codec_name", b["name"].split("[")[0])): b for b in runs["benchmarks"]}
    dense = bench[("dense-conv", "test_dense_conv")]
    dense_rate = dense["extra_info"]["gmac"] / dense["stats"]["median"]
    setting = {"model": "?", "image": "?", "lmbda": "?"} | bench[("encode", "yotocodec")]["extra_info"]
    cpu = runs["machine_info"]["cpu"].get("brand_raw", "?")
    lines = [
        f"{setting['image']}, λ = {setting['lmbda']}, shipped model {setting['model']}; CPU: {cpu}, "
        f"torch threads = default; median (min) of {dense['stats']['rounds']} rounds. CompressAI = its "
        "ScaleHyperprior `compress`/`decompress` holding the same network (FiLM folded at the same λ).",
        "",
        "| | yotocodec ms | CompressAI ms | ratio | entropy coding ms (share) | conv GMAC/s (dense conv2d: "
        f"{dense_rate:.0f}) | peak RSS MB (CompressAI) |",
        "|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for op in ("encode", "decode"):
        ours, peer = bench[(op, "yotocodec")], bench[(op, "compressai")]
        o, p, ec = ours["stats"], peer["stats"], bench[(op, "test_entropy_coding")]["stats"]["median"]
        lines.append(
            f"| {op} | {1e3 * o['median']:.0f} ({1e3 * o['min']:.0f}) | {1e3 * p['median']:.0f} ({1e3 * p['min']:.0f}) "
            f"| {o['median'] / p['median']:.2f} ({o['min'] / p['min']:.2f}) | {1e3 * ec:.0f} ({100 * ec / o['median']:.0f} %) "
            f"| {ours['extra_info']['gmac'] / (o['median'] - ec):.0f} "
            f"| {ours['extra_info']['peak_rss_mb']:.0f} ({peer['extra_info']['peak_rss_mb']:.0f}) |"
        )  # fmt: skip
    fixed, target = (bench[(op, "test_rate_control")] for op in ("encode lmbda=0.01", "encode size=20KB"))
    lines += ["", f"Rate control: encoding to a 20 KB target took {target['stats']['median'] / fixed['stats']['median']:.2f}× "
              f"the time of one fixed-λ encode ({target['extra_info']['bytes']} bytes written)."]  # fmt: skip
    text = "\n".join(lines) + "\n"
    (RESULTS / "codec_speed.md").write_text(text)
    return text


if __name__ == "__main__":
    sys.stdout.write(main(*map(Path, sys.argv[1:])))
