"""Many files at once: plan outputs (never over an input or an existing file unless asked,
never two onto one), run the jobs with a progress bar (in worker processes with ``jobs > 1``),
and print a summary table."""

from __future__ import annotations

import glob
import multiprocessing
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Generator, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp"}


@dataclass(frozen=True)
class Job:
    """One file to code: ``setting`` is {"lmbda": 0.01}, {"size": "40KB"}, ... (encode) or {} (decode)."""

    source: Path
    target: Path
    setting: dict
    model: str | None
    overwrite: bool = False
    """Whether ``target`` may replace a file (without it, one that appears meanwhile is kept)."""


def expand(inputs: list[str], suffixes: set[str]) -> list[Path]:
    """Files named, matched by a glob, or (with one of ``suffixes``) found in a directory; a file
    reached twice (``shots/ shots/a.png``) is listed once."""
    files: list[Path] = []
    for item in inputs:
        matches = sorted(glob.glob(item)) if glob.has_magic(item) else [item]
        if not matches:
            raise ValueError(f"{item}: no file matches")
        for m in map(Path, matches):
            found = sorted(f for f in m.iterdir() if f.suffix.lower() in suffixes) if m.is_dir() else [m]
            if not found:
                raise ValueError(f"{m}: no {', '.join(sorted(suffixes))} files in this directory")
            files += found
    first = {f.resolve(): f for f in reversed(files)}  # the first spelling of each file
    return [f for f in files if first[f.resolve()] is f]


def plan(sources: list[Path], out_dir: Path, suffix: str, setting: dict, model: str | None,
         overwrite: bool = False) -> list[Job]:  # fmt: skip
    """One job per source writing ``out_dir/<stem><suffix>``; refuses clashes, overwriting an
    input, and (unless ``overwrite``) overwriting any existing file, all before any work."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out-dir {out_dir} is a file, not a directory")
    targets = [out_dir / (s.stem + suffix) for s in sources]
    inputs = {_identity(s) for s in sources if s.exists()}
    seen: dict[Path, Path] = {}
    for s, t in zip(sources, targets):
        if t.exists() and _identity(t) in inputs:  # the same file, by any name or link
            raise ValueError(f"{t} is an input: refusing to overwrite it (choose another --out-dir)")
        if t in seen:
            raise ValueError(f"{seen[t]} and {s} would both be written to {t}")
        seen[t] = s
    existing = [t for t in targets if t.exists()]
    if existing and not overwrite:
        raise ValueError(f"{len(existing)} of the outputs already exist ({', '.join(map(str, existing[:3]))}"
                         f"{', ...' if len(existing) > 3 else ''}): pass --overwrite to replace them")  # fmt: skip
    return [Job(s, t, setting, model, overwrite) for s, t in zip(sources, targets)]


def _identity(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_dev, st.st_ino


def run_job(job: Job) -> dict:
    """Code one file; returns its summary row (with ``error`` set instead of raising)."""
    from . import codec, files, ratecontrol
    from .metrics import psnr

    row = {"file": str(job.source), "output": str(job.target)}
    t0 = time.perf_counter()
    try:
        model = codec.load(job.model)
        if job.target.suffix == ".yoto":
            image = files.read_image(job.source)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ratecontrol.TargetWarning)
                data = ratecontrol.encode(image, model=model, **job.setting)
            if caught:
                row["warning"] = str(caught[0].message)
            seconds = time.perf_counter() - t0
            files.write_bytes(job.target, data, job.overwrite)
            row["psnr"] = psnr(image, codec.decode(data, model))
        else:
            data = job.source.read_bytes()
            files.check_writable(files.image_format(job.target.suffix), codec.inspect(data).mode)
            files.save_image(codec.decode(data, model), job.target, overwrite=job.overwrite)
            seconds = time.perf_counter() - t0
        info = codec.inspect(data)
        row |= {"bytes": info.num_bytes, "bpp": info.bpp, "lmbda": info.lmbda, "seconds": seconds}
    except (ValueError, OSError) as e:
        row["error"] = str(e)
    except Exception as e:  # a bug on one file: reported in its row, the other files still run
        row["error"] = f"{type(e).__name__}: {e}"
    return row


def _worker_init(threads: int) -> None:
    """A worker: torch's threads; Ctrl-C and SIGTERM left to the main process, which stops the
    workers (SIGTERM: unfinished outputs removed, exit at once); gone with its parent."""
    import torch

    torch.set_num_threads(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _die)
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()  # main, or a forkserver


def _die(signum: int = signal.SIGTERM, frame: object = None) -> None:
    from . import files

    files.remove_unfinished()
    os._exit(128 + signum)


def _watch_parent(parent: int) -> None:
    """Exit when the process that started this worker is gone (the main process killed, or
    the forkserver that exits with it): nobody could stop this worker otherwise."""
    while os.getppid() == parent:
        time.sleep(0.5)
    _die()


def run(jobs: list[Job], workers: int = 1) -> Iterator[dict]:
    """Run ``jobs`` (in up to ``workers`` processes) with a progress bar on stderr, yielding each
    job's row in order. Interrupted (Ctrl-C, SIGTERM), no further job starts and the workers
    stop at once, removing their unfinished outputs; a worker that dies (out of memory?) marks
    its job and the ones not yet done as errors."""
    if workers < 1:
        raise ValueError(f"--jobs must be 1 or more, got {workers}")
    return _run(jobs, min(workers, len(jobs)))


def _run(jobs: list[Job], workers: int) -> Iterator[dict]:
    rows = _pooled(jobs, workers) if workers > 1 else (run_job(job) for job in jobs)
    with tqdm(total=len(jobs), unit="file", file=sys.stderr, disable=len(jobs) < 2) as bar, closing(rows):
        for row in rows:
            bar.update()
            yield row


def _pooled(jobs: list[Job], workers: int) -> Generator[dict, None, None]:
    threads = max(1, (os.cpu_count() or 1) // workers)
    pool = ProcessPoolExecutor(workers, initializer=_worker_init, initargs=(threads,))
    futures = [pool.submit(run_job, job) for job in jobs]  # not pool.map: on exit it cancels them, which a
    try:  # broken pool then fails to fail (InvalidStateError tracebacks on Python 3.11)
        for job, future in zip(jobs, futures):
            try:
                row = _result(future)
            except BrokenProcessPool:
                row = {"file": str(job.source), "output": str(job.target),
                       "error": "not coded: a worker process died (out of memory? try fewer --jobs)"}  # fmt: skip
            yield row
    except BaseException:
        for worker in multiprocessing.active_children():
            worker.terminate()
        pool.shutdown()  # quick: the pool, broken now, fails the jobs not run
        raise
    pool.shutdown()


def _result(future: Future) -> dict:
    """``future.result()``, waking twice a second so that a signal that reached another thread
    (Ctrl-C, SIGTERM) is handled in this one at once."""
    while True:
        try:
            return future.result(timeout=0.5)
        except TimeoutError:
            continue


def table(rows: list[dict], total: int = 0) -> str:
    """The summary: one line per file, then totals (of ``total`` files, when interrupted)."""
    lines = [f"{'file':<32} {'bytes':>9} {'bpp':>7} {'PSNR':>6} {'λ':>9} {'s':>6}"]
    for r in rows:
        name = Path(r["file"]).name[:32]
        if "error" in r:
            lines.append(f"{name:<32} error: {r['error']}")
            continue
        psnr = f"{r['psnr']:6.2f}" if "psnr" in r else f"{'-':>6}"
        lines.append(f"{name:<32} {r['bytes']:>9} {r['bpp']:>7.4f} {psnr} {r['lmbda']:>9.4g} {r['seconds']:>6.2f}"
                     + (f"  warning: {r['warning']}" if "warning" in r else ""))  # fmt: skip
    ok = [r for r in rows if "error" not in r]
    lines.append(f"{len(ok)} of {total or len(rows)} files, {sum(r['bytes'] for r in ok)} bytes, "
                 f"{sum(r['seconds'] for r in ok):.1f} s" + (f"; stopped, {total - len(rows)} not coded" if total else ""))  # fmt: skip
    return "\n".join(lines)

