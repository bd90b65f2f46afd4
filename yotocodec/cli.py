"""``yoto``: train, encode, decode and inspect from the command line.

Exit codes: 0 success, 1 codec or input error (message on stderr), 2 usage error,
128 + signal number when training was stopped by SIGTERM/SIGINT (checkpoint written).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path

from .conditioning import LMBDA_MAX, LMBDA_MIN


def _train(args: argparse.Namespace) -> int:
    from .train import TrainConfig, Trainer

    cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    trainer = Trainer(cfg)
    path = trainer.run(until=args.until)
    if trainer.rank == 0:
        print(f"model written to {path}" if path else f"stopped at step {trainer.step}; checkpoint in {cfg.out}")
    return 128 + trainer.stopped_by if trainer.stopped_by else 0


def _export(args: argparse.Namespace) -> None:
    from .train import export_checkpoint

    print(f"{args.output}: model {export_checkpoint(args.checkpoint, args.output).hex()}")


def _encode(args: argparse.Namespace) -> None:
    from . import codec, files

    model = codec.load(args.model)
    data = codec.encode(files.read_image(args.input), lmbda=args.lmbda, model=model)
    files.write_bytes(args.output, data)
    info = codec.inspect(data)
    print(f"{args.output}: {info.num_bytes} bytes, {info.bpp:.4f} bpp, λ={info.lmbda:.6g}")


def _decode(args: argparse.Namespace) -> None:
    from . import codec, files

    image = codec.decode(Path(args.input).read_bytes(), model=codec.load(args.model))
    files.save_image(image, args.output)
    print(f"{args.output}: {image.width}x{image.height}")


def _info(args: argparse.Namespace) -> None:
    from .codec import inspect

    i = inspect(Path(args.input).read_bytes())
    print(f"λ      {i.lmbda:.6g}\nsize   {i.width}x{i.height}\nbytes  {i.num_bytes}\n"
          f"bpp    {i.bpp:.4f}\nmodel  {i.model_id}\nformat version {i.version}")  # fmt: skip


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="yoto", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    enc = sub.add_parser("encode", help="compress an image (PNG, JPEG, WebP, ...) to a .yoto file")
    enc.add_argument("input")
    enc.add_argument("output")
    enc.add_argument("--lmbda", "-l", type=float, required=True,
                     help=f"rate–distortion trade-off λ in [{LMBDA_MIN:g}, {LMBDA_MAX:g}]; larger is better quality")  # fmt: skip
    dec = sub.add_parser("decode", help="decompress a .yoto file to an image (format from the suffix)")
    dec.add_argument("input")
    dec.add_argument("output")
    for s in (enc, dec):
        s.add_argument("--model", help="model file (default: the shipped model)")
    info = sub.add_parser("info", help="print a .yoto file's header")
    info.add_argument("input")

    from .train import TrainConfig

    tr = sub.add_parser("train", help="train a variable-rate model (checkpoints and resumes in --out)")
    for f in fields(TrainConfig):
        kind = {"action": argparse.BooleanOptionalAction} if f.type == "bool" else {"type": type(f.default)}
        tr.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, default=f.default, help=f"default: {f.default}",
                        **kind)  # fmt: skip
    tr.add_argument("--until", type=int, help="stop at this step (a resumable chunk of the run)")
    ex = sub.add_parser("export", help="write the inference model file of a training checkpoint")
    ex.add_argument("checkpoint")
    ex.add_argument("output")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler = {"train": _train, "encode": _encode, "decode": _decode, "info": _info, "export": _export}[args.command]
    from .bitstream import YotoError

    try:
        return handler(args) or 0
    except (YotoError, ValueError, OSError) as e:
        print(f"yoto: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("yoto: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
