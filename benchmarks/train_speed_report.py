"""Summarise ``benchmarks/results/train_speed.json`` (from test_train_speed.py) as a table.

Writes ``benchmarks/results/train_speed.md``: per model size, the median time of one
training step of each codec, its throughput and FiLM's overhead over the plain model.
"""

import json
import platform
import sys
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def main(path: Path = RESULTS / "train_speed.json") -> str:
    runs = json.loads(path.read_text())
    stats = {(b["params"]["size"], b["params"]["codec"]): b["stats"] for b in runs["benchmarks"]}
    pixels = runs["benchmarks"][0]["extra_info"]["pixels_per_step"]
    lines = [
        f"Training step, batch of {pixels // 128**2} × 128² crops, CPU: {runs['machine_info'].get('cpu', {}).get('brand_raw', platform.processor())}, "
        f"torch threads = default; median (and min) of 25 rounds.",
        "",
        "| size | yotocodec (FiLM) s/step | CompressAI plain s/step | yotocodec px/s | FiLM overhead (median) | (min) |",
        "|---|---|---|---|---|---|",
    ]
    for size in dict.fromkeys(s for s, _ in stats):
        ours, plain = stats[(size, "yotocodec-FiLM")], stats[(size, "compressai-plain")]
        m, lo = ours["median"], ours["min"]
        lines.append(f"| {size} | {m:.3f} | {plain['median']:.3f} | {pixels / m:.3g} "
                     f"| {100 * (m / plain['median'] - 1):+.1f} % | {100 * (lo / plain['min'] - 1):+.1f} % |")  # fmt: skip
    text = "\n".join(lines) + "\n"
    (RESULTS / "train_speed.md").write_text(text)
    return text


if __name__ == "__main__":
    sys.stdout.write(main(*map(Path, sys.argv[1:])))
