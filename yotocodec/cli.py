"""``yoto``: train, encode, decode and inspect from the command line.

Exit codes: 0 success, 1 codec or input error (message on stderr), 2 usage error, 130 on
Ctrl-C, 128 + signal number when stopped by SIGTERM or SIGHUP (unfinished outputs removed;
training writes its checkpoint first), 141 (128 + SIGPIPE, silently) when the reader of stdout
closed it early.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING

from .lmbda import LMBDA_MAX, LMBDA_MIN

if TYPE_CHECKING:
    from .train import TrainConfig


def _train_config(args: argparse.Namespace) -> TrainConfig:
    """The run's TrainConfig; settings that cannot train raise ValueError (a usage error)."""
    from .train import TrainConfig

    return TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})


def _train(args: argparse.Namespace) -> int:
    from .train import Trainer

    cfg = args.config
    trainer = Trainer(cfg)
    finished = trainer.step >= cfg.steps  # a re-run of a completed run: nothing to train
    path = trainer.run(until=args.until)
    if trainer.rank == 0:
        if finished:
            print(f"{cfg.out} had already trained all {cfg.steps} steps; model written again to {path}")
        else:
            print(f"model written to {path}" if path else f"stopped at step {trainer.step}; checkpoint in {cfg.out}")
    return 128 + trainer.stopped_by if trainer.stopped_by else 0


def _export(args: argparse.Namespace) -> None:
    from .train import export_checkpoint

    print(f"{args.output}: model {export_checkpoint(args.checkpoint, args.output, args.half).hex()}")


def _setting(args: argparse.Namespace) -> dict:
    """The one rate setting given, e.g. {"lmbda": 0.01} or {"size": "40KB"}."""
    from .ratecontrol import SETTINGS

    return {k: getattr(args, k) for k in SETTINGS if getattr(args, k) is not None}


def _batch(args: argparse.Namespace, suffix: str, setting: dict) -> int:
    from . import batch

    wanted = {".yoto"} if suffix != ".yoto" else batch.IMAGE_SUFFIXES
    jobs = batch.plan(batch.expand(args.paths, wanted), Path(args.out_dir), suffix, setting, args.model,
                      args.overwrite)  # fmt: skip
    rows: list[dict] = []
    try:
        for row in batch.run(jobs, args.jobs):
            rows.append(row)
    finally:  # interrupted too: which files were coded
        print(batch.table(rows, 0 if len(rows) == len(jobs) else len(jobs)))
    return 1 if any("error" in r for r in rows) else 0


def _report(output: str, text: str) -> None:
    """Status lines go to stdout, or to stderr when stdout carries the data."""
    print(text, file=sys.stderr if output == "-" else sys.stdout)


def _std(name: str) -> io.BufferedIOBase:
    """The binary stream of sys.stdin or sys.stdout; a closed one (`<&-`) is a clear error."""
    stream = getattr(sys, name)
    if stream is None:
        raise ValueError(f"{name} is closed: give a file instead of '-'")
    return stream.buffer


def _read(path: str) -> bytes:
    """The bytes of a file, or of stdin for '-'."""
    return _std("stdin").read() if path == "-" else Path(path).read_bytes()


def _shown(path: str) -> str:
    """``path`` as messages name it ('-' is ``<stdin>``)."""
    return "<stdin>" if path == "-" else path


@contextmanager
def _naming(source: str) -> Iterator[None]:
    """A YotoError raised inside names the input it is about."""
    from .bitstream import YotoError

    try:
        yield
    except YotoError as e:
        raise type(e)(f"{_shown(source)}: {e}") from None


def _single(args: argparse.Namespace) -> tuple[str, str]:
    """INPUT and OUTPUT of a one-file run; an OUTPUT that is INPUT itself is refused."""
    source, output = args.paths
    if "-" not in (source, output) and Path(output).exists() and Path(output).samefile(source):
        raise ValueError(f"{output} is the input file: give another output path (the input would be lost)")
    if output != "-" and Path(output).is_dir():
        raise ValueError(f"{output} is a directory: name the output file, or use --out-dir for batch mode")
    return source, output


def _encode(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from . import codec, files, ratecontrol

    ((kind, value),) = _setting(args).items()
    if args.out_dir:
        return _batch(args, ".yoto", {kind: value, "strict": args.strict, "refine": args.refine})
    source, output = _single(args)
    model = codec.load(args.model)
    image = files.read_image(io.BytesIO(_read("-")) if source == "-" else source, _shown(source))
    note = ""
    with tqdm(total=args.refine, desc="refine", unit="step", disable=not args.refine, file=sys.stderr) as bar:
        if kind in ("lmbda", "quality"):
            r = None
            data = ratecontrol.encode(image, model=model, refine=args.refine, on_step=_progress(bar), **{kind: value})
        else:
            r = ratecontrol.encode_to(image, kind, value, model, args.strict, args.refine, _progress(bar))
    if r is not None:
        tries = f"{r.probes} {'try' if r.probes == 1 else 'tries'}, {r.encodes} of them full encodes" + (
            ", each refined" if args.refine else "")
        data, note = r.data, f" ({kind} target {value}: {_achieved(kind, r)} in {tries})"
        if not r.reached:
            print(f"yoto: warning: {ratecontrol.missed(kind, value, r)} (use --strict to fail instead)", file=sys.stderr)
    if output == "-":
        _std("stdout").write(data)
        sys.stdout.flush()
    else:
        files.write_bytes(output, data)
    info = codec.inspect(data)
    _report(output, f"{output}: {info.num_bytes} bytes, {info.bpp:.4f} bpp, λ={info.lmbda:.4g}{note}")
    return 0


def _progress(bar) -> Callable[[int], None]:
    """``on_step`` for a refinement bar: a target's later λ tries restart it as "try k"."""
    tries = 0

    def on_step(step: int) -> None:
        nonlocal tries
        if step == 1:
            tries += 1
            if tries > 1:
                bar.reset()
                bar.set_description(f"refine, try {tries}")
        bar.update()

    return on_step


def _achieved(kind: str, r) -> str:
    return {"size": f"{r.value:.0f} bytes", "bpp": f"{r.value:.4f} bpp", "psnr": f"{r.value:.2f} dB"}[kind] + (
        "" if r.reached else ", not reached")


def _output_format(output: str, named: str | None) -> str:
    """Pillow format ``yoto decode`` writes: ``--format`` (default png) to stdout, else the one
    OUTPUT's suffix names (a ``--format`` naming another is refused)."""
    from . import files

    if output == "-":
        return files.image_format(named or "png")
    suffix = Path(output).suffix
    if not suffix:
        raise ValueError(f"{output} has no suffix to tell the image format: name it e.g. {output}.png")
    fmt = files.image_format(suffix)
    if named and files.image_format(named) != fmt:
        raise ValueError(f"{output} names {fmt} but --format says {named}: give one of them")
    return fmt


def _decode(args: argparse.Namespace) -> int:
    from . import codec, files

    if args.out_dir:
        suffix = files.format_suffix(args.format or "png")
        files.check_writable(files.image_format(suffix), "RGB")  # before any decoding
        return _batch(args, suffix, {})
    source, output = _single(args)
    fmt = _output_format(output, args.format)
    data = _read(source)
    with _naming(source):
        files.check_writable(fmt, codec.inspect(data).mode)
        image = codec.decode(data, model=codec.load(args.model))
    if output == "-":
        _std("stdout").write(files.encoded_image(image, fmt))
        sys.stdout.flush()
    else:
        files.save_image(image, output, fmt)
    _report(output, f"{output}: {image.width}x{image.height} {image.mode}")
    return 0


def _info(args: argparse.Namespace) -> int:
    """Each file's header, as text or (``--json``) one JSON object per line; a file that
    cannot be read is named on stderr and the others still shown (exit status 1)."""
    import json

    from .bitstream import YotoError, inspect

    failed = False
    for k, path in enumerate(args.inputs):
        try:
            i = inspect(_read(path))
        except (YotoError, OSError) as e:
            print(f"yoto: error: {_shown(path)}: {getattr(e, 'strerror', None) or e}", file=sys.stderr)
            failed = True
            continue
        if args.json:
            print(json.dumps({"file": path, "lmbda": i.lmbda, "width": i.width, "height": i.height, "mode": i.mode,
                              "bytes": i.num_bytes, "bpp": i.bpp, "model": i.model_id, "format_version": i.version},
                             ensure_ascii=False))  # fmt: skip
            continue
        if len(args.inputs) > 1:
            print(("\n" if k else "") + f"==> {path} <==")  # as head(1) shows several files
        print(f"λ      {i.lmbda:.4g}\nsize   {i.width}x{i.height}\nmode   {i.mode}\nbytes  {i.num_bytes}\n"
              f"bpp    {i.bpp:.4f}\nmodel  {i.model_id}\nformat version {i.version}")  # fmt: skip
    return 1 if failed else 0


def _checked(convert: Callable[[str], float], ok: Callable[[float], bool], what: str) -> Callable[[str], float]:
    """An argparse type: ``convert``, then refuse values failing ``ok`` (usage error, exit 2)."""

    def parse(text: str) -> float:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value

    return parse


def _size(text: str) -> str:
    from .ratecontrol import parse_size

    if parse_size(text) < 1:
        raise ValueError(text)
    return text


def _parser(train_options: bool = True) -> argparse.ArgumentParser:
    """The ``yoto`` parser; ``train``'s options only with ``train_options``."""
    from . import __version__

    p = argparse.ArgumentParser(prog="yoto", description=__doc__.splitlines()[0].replace("``yoto``: ", "yoto: "))
    p.add_argument("--version", action="version", version=f"yoto (yotocodec) {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    enc = sub.add_parser("encode", help="compress images (PNG, JPEG, WebP, TIFF, BMP) to .yoto files")
    how = enc.add_mutually_exclusive_group(required=True)
    positive = _checked(float, lambda v: v > 0 and math.isfinite(v), "a positive number")
    how.add_argument("--lmbda", "-l", type=positive,
                     help=f"rate–distortion trade-off λ in [{LMBDA_MIN:g}, {LMBDA_MAX:g}] (the shipped model's; "
                          "another --model may have another range); larger is better quality")  # fmt: skip
    how.add_argument("--quality", "-q", type=_checked(float, lambda v: 1 <= v <= 100, "a quality in 1..100"),
                     help="1..100, mapped log-linearly onto the λ range")
    how.add_argument("--size", type=_checked(_size, bool, "a size of 1 byte or more, like 40KB, 1.5MiB or 20000"),
                     help="target file size, at or below (e.g. 40KB, 1.5MiB, 20000)")
    how.add_argument("--bpp", type=positive, help="target bits per pixel, at or below")
    how.add_argument("--psnr", type=positive, help="target PSNR in dB, at or above")
    enc.add_argument("--strict", action="store_true", help="fail (exit 1) when a target is out of reach")
    enc.add_argument("--refine", type=_checked(int, lambda v: v >= 0, "0 or more steps"), default=0, metavar="STEPS",
                     help="optimise the latents for this image over STEPS steps: smaller files at the same "
                          "quality, the decoder unchanged; ~3 (CPUs with bf16) to 8 s per step per megapixel on "
                          "one core with the shipped model, for each λ a --size/--bpp/--psnr target tries "
                          "(default: 0)")
    dec = sub.add_parser("decode", help="decompress .yoto files to images")
    dec.add_argument("--format", help="image format for --out-dir and for '-' (default: png; a named OUTPUT's "
                                      "suffix gives its format)")
    for s in (enc, dec):
        s.add_argument("paths", nargs="+", metavar="PATH",
                       help="INPUT OUTPUT ('-' = stdin/stdout), or with --out-dir any number of inputs: "
                            "files, directories, globs")
        s.add_argument("--out-dir", "-o", help="write each input's output here (batch mode)")
        s.add_argument("--jobs", "-j", type=_checked(int, lambda v: v >= 1, "1 or more"), default=1,
                       help="worker processes in batch mode (default: 1)")
        s.add_argument("--overwrite", action="store_true", help="batch mode: replace outputs that already exist")
        s.add_argument("--model", help="model file (default: the shipped model)")
    info = sub.add_parser("info", help="print .yoto files' headers")
    info.add_argument("inputs", nargs="+", metavar="INPUT", help=".yoto files ('-' = stdin)")
    info.add_argument("--json", action="store_true", help="one JSON object per file and line (for scripts)")

    tr = sub.add_parser("train", help="train a variable-rate model (checkpoints and resumes in --out)")
    if train_options:  # TrainConfig's module imports torch: seconds that other commands need not wait
        from .train import TrainConfig

        for f in fields(TrainConfig):
            kind = {"action": argparse.BooleanOptionalAction} if f.type == "bool" else {"type": type(f.default)}
            tr.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, default=f.default,
                            help=f"default: {f.default}", **kind)  # fmt: skip
        tr.add_argument("--until", type=_checked(int, lambda v: v >= 1, "a step of 1 or more"),
                        help="stop at this step (a resumable chunk of the run)")
    ex = sub.add_parser("export", help="write the inference model file of a training checkpoint")
    ex.add_argument("checkpoint", help="a training checkpoint (OUT/checkpoint.pt of yoto train)")
    ex.add_argument("output", help="model file to write (for --model, or --init of a new run)")
    ex.add_argument("--half", action="store_true", help="store the weights as float16 (half the file)")
    return p


class _Stopped(BaseException):
    """SIGTERM or SIGHUP arrived: unwind (unfinished outputs are removed) and exit 128 + signal."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


@contextmanager
def _stoppable() -> Iterator[None]:
    """SIGTERM and SIGHUP raise ``_Stopped`` inside (as Ctrl-C raises KeyboardInterrupt), where
    Python may set signal handlers (the main thread) and the signal is not ignored (``nohup``
    ignores SIGHUP); training replaces them while it steps."""

    def stop(signum: int, frame: object) -> None:
        raise _Stopped(signum)

    ours = threading.current_thread() is threading.main_thread()
    stops = [s for s in (signal.SIGTERM, getattr(signal, "SIGHUP", None))  # (no SIGHUP on Windows)
             if s is not None and signal.getsignal(s) is not signal.SIG_IGN]  # ignored (nohup): kept so  # fmt: skip
    previous = {s: signal.signal(s, stop) for s in stops} if ours else {}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = _parser(train_options=argv[:1] == ["train"])
    args = parser.parse_args(argv)
    if args.command in ("encode", "decode") and not args.out_dir and len(args.paths) != 2:
        parser.error(f"{args.command} takes INPUT OUTPUT, or inputs with --out-dir DIR")
    if args.command == "encode" and args.strict and (args.lmbda is not None or args.quality is not None):
        parser.error("--strict applies to --size, --bpp and --psnr; --lmbda and --quality are always met")
    if args.command == "train":
        try:
            args.config = _train_config(args)
        except ValueError as e:
            parser.error(str(e))
    handler = {"train": _train, "encode": _encode, "decode": _decode, "info": _info, "export": _export}[args.command]
    from .bitstream import YotoError

    try:
        with _stoppable():
            return handler(args) or 0
    except _Stopped as e:
        print(f"yoto: stopped by {signal.Signals(e.signum).name}", file=sys.stderr)
        return 128 + e.signum
    except BrokenPipeError:  # the reader of stdout stopped early (`yoto info x.yoto | head -1`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so that the exit flush stays silent
        return 128 + signal.SIGPIPE  # as a shell tool killed by SIGPIPE, without a message
    except (YotoError, ValueError, OSError) as e:
        print(f"yoto: error: {e}", file=sys.stderr)
        return 1
    except (MemoryError, RuntimeError) as e:  # torch reports a failed CPU allocation as a RuntimeError
        if isinstance(e, RuntimeError) and "can't allocate memory" not in str(e):
            raise
        print(f"yoto: error: out of memory ({str(e).strip() or 'no detail'}); try a smaller image or more memory",
              file=sys.stderr)  # fmt: skip
        return 1
    except KeyboardInterrupt:
        print("yoto: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
