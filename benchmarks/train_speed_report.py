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
    median = {(b["params"]["size"], b["params"]["codec"]): b["stats"]["median"] for b in runs["benchmarks"]}
    pixels = runs["benchmarks"][0]["extra_info"]["pixels_per_step"]
    lines = [
        f"Training step, batch of {pixels // 128**2} × 128² crops, CPU: {runs['machine_info'].get('cpu', {}).get('brand_raw', platform.processor())}, "
        f"torch threads = default; median of 12 rounds.",
        "",
        "| size | yotocodec (FiLM) s/step | CompressAI plain s/step | yotocodec px/s | FiLM overhead |",
        "|---|---|---|---|---|",
    ]
    for size in dict.fromkeys(s for s, _ in median):
        ours, plain = median[(size, "yotocodec-FiLM")], median[(size, "compressai-plain")]
        lines.append(f"| {size} | {ours:.3f} | {plain:.3f} | {pixels / ours:.3g} | {100 * (ours / plain - 1):+.1f} % |")
    text = "\n".join(lines) + "\n"
    (RESULTS / "train_speed.md").write_text(text)
    return text


if __name__ == "__main__":
    sys.stdout.write(main(*map(Path, sys.argv[1:])))
