"""Peak memory and time of encode and decode by image size, each in a fresh process.

Images are kodim23 resized (Lanczos) to each size. Above 4 megapixels g_a and g_s run in
tiles (``inference.TILE``, ``HALO``); the last row compares the file size of the same 6 MP
image coded tiled and whole, the cost of tiling in bpp. Writes
``benchmarks/results/large_images.{json,md}``.

    python benchmarks/large_images.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZES = [(1000, 1000), (3000, 2000), (6000, 4000), (10032, 6688)]  # the last: 3:2 at the format's limit
LMBDA = 0.01

CHILD = """
import sys, time, json
from pathlib import Path
from PIL import Image
from yotocodec import codec, inference
def status(field):
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith(field + ":"))
    return int(line.split()[1]) / 1024
op, src, dst, large = sys.argv[1:5]
inference.LARGE = int(large)
model = codec.load()
arg = Image.open(src).convert("RGB") if op == "encode" else Path(src).read_bytes()
Path("/proc/self/clear_refs").write_text("5")
before, t0 = status("VmRSS"), time.perf_counter()
out = codec.encode(arg, %r, model) if op == "encode" else codec.decode(arg, model)
seconds = time.perf_counter() - t0
Path(dst).write_bytes(out) if op == "encode" else None
print(json.dumps({"seconds": seconds, "rss_before_mb": before, "peak_mb": status("VmHWM")}))
""" % LMBDA


def run(op: str, src: Path, dst: Path, large: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, op, str(src), str(dst), str(large)],
                         capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    from PIL import Image

    sample = Image.open(ROOT / "data" / "samples" / "kodim23.png").convert("RGB")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for w, h in SIZES:
            src, coded = Path(tmp) / f"{w}x{h}.png", Path(tmp) / f"{w}x{h}.yoto"
            sample.resize((w, h), Image.LANCZOS).save(src)
            enc = run("encode", src, coded, 1 << 22)
            dec = run("decode", coded, Path(tmp) / "unused", 1 << 22)
            rows.append({"size": f"{w}x{h}", "megapixels": w * h / 1e6, "bpp": 8 * coded.stat().st_size / (w * h),
                         "encode": enc, "decode": dec})  # fmt: skip
            print(rows[-1], flush=True)
        w, h = SIZES[1]
        src, whole = Path(tmp) / f"{w}x{h}.png", Path(tmp) / "whole.yoto"
        run("encode", src, whole, 1 << 40)
        tiling_cost = 8 * (Path(tmp) / f"{w}x{h}.yoto").stat().st_size / (w * h) - 8 * whole.stat().st_size / (w * h)
    lines = [f"kodim23 resized, λ = {LMBDA}, shipped model, fresh process per operation (RSS includes torch and "
             "the model). Tiled above 4 MP.", "",
             "| size | MP | bpp | encode s | encode peak RSS MB | decode s | decode peak RSS MB |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        lines.append(f"| {r['size']} | {r['megapixels']:.1f} | {r['bpp']:.4f} | {r['encode']['seconds']:.1f} | "
                     f"{r['encode']['peak_mb']:.0f} | {r['decode']['seconds']:.1f} | {r['decode']['peak_mb']:.0f} |")  # fmt: skip
    lines += ["", f"Tiling cost at {SIZES[1][0]}x{SIZES[1][1]}: {tiling_cost:+.5f} bpp (tiled − whole)."]
    out = ROOT / "benchmarks" / "results"
    (out / "large_images.json").write_text(json.dumps({"rows": rows, "tiling_cost_bpp": tiling_cost}, indent=1))
    (out / "large_images.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
