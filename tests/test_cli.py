"""The ``yoto`` command: encode/decode/info, exit codes, clear errors, no partial outputs."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from yotocodec import cli
from yotocodec.bitstream import inspect

from conftest import SAMPLE, random_image


def yoto(*args, threads: int | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    cmd = [sys.executable, "-m", "yotocodec.cli", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def encoded(tmp_path_factory, tiny_model_path):
    d = tmp_path_factory.mktemp("cli")
    Image.fromarray(random_image(np.random.default_rng(5), 70, 90)).save(d / "in.png")
    r = yoto("encode", d / "in.png", d / "in.yoto", "--lmbda", "0.02", "--model", tiny_model_path)
    assert r.returncode == 0, r.stderr
    return d


def test_encode_decode_info_round_trip(encoded, tiny_model_path):
    r = yoto("decode", encoded / "in.yoto", encoded / "out.png", "--model", tiny_model_path)
    assert r.returncode == 0, r.stderr
    assert Image.open(encoded / "out.png").size == (90, 70)
    info = yoto("info", encoded / "in.yoto")
    assert info.returncode == 0 and "λ      0.02" in info.stdout and "90x70" in info.stdout


def test_info_shows_several_files_as_json_lines_and_names_the_ones_it_cannot_read(encoded, capsys):
    good, bad = str(encoded / "in.yoto"), str(encoded / "in.png")
    assert cli.main(["info", good, bad, good, "--json"]) == 1
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["file"] for r in rows] == [good, good] and f"{bad}: not a .yoto file" in err
    header = inspect(Path(good).read_bytes())
    assert rows[0] | {"file": None} == {"file": None, "lmbda": header.lmbda, "width": 90, "height": 70, "mode": "RGB",
                                        "bytes": header.num_bytes, "bpp": header.bpp, "model": header.model_id,
                                        "format_version": header.version}  # fmt: skip
    assert cli.main(["info", good, good]) == 0
    assert capsys.readouterr().out.count(f"==> {good} <==\nλ      0.02") == 2


def test_info_reads_stdin_and_a_reader_that_stops_early_is_no_error(encoded):
    data = (encoded / "in.yoto").read_bytes()
    r = subprocess.run([sys.executable, "-m", "yotocodec.cli", "info", "-"], input=data, capture_output=True, timeout=300)
    assert r.returncode == 0 and b"90x70" in r.stdout
    cmd = f"{sys.executable} -m yotocodec.cli info - < {encoded / 'in.yoto'} | true"  # a reader gone before output
    r = subprocess.run(["bash", "-c", f"{cmd}; exit ${{PIPESTATUS[0]}}"], capture_output=True, text=True, timeout=300)
    assert (r.returncode, r.stderr) == (141, "")  # as a shell tool killed by SIGPIPE


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.startswith("yoto (yotocodec) 0.")


def test_decoding_is_identical_in_another_process_with_other_thread_counts(encoded, tiny_model_path):
    outputs = []
    for threads in (1, 2):
        out = encoded / f"t{threads}.png"
        r = yoto("decode", encoded / "in.yoto", out, "--model", tiny_model_path, threads=threads)
        assert r.returncode == 0, r.stderr
        outputs.append(np.asarray(Image.open(out)))
    assert np.array_equal(outputs[0], outputs[1])


def _damaged(data: bytes) -> dict[str, bytes]:
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x10
    return {"truncated": data[: len(data) // 2], "bit-flipped": bytes(flipped), "empty": b"",
            "foreign": b"GIF89a" + bytes(100)}  # fmt: skip


@pytest.mark.parametrize("kind", ["truncated", "bit-flipped", "empty", "foreign"])
def test_bad_files_give_one_clear_error_and_no_output(encoded, tiny_model_path, kind):
    bad = encoded / f"{kind}.yoto"
    bad.write_bytes(_damaged((encoded / "in.yoto").read_bytes())[kind])
    out = encoded / f"{kind}.png"
    r = yoto("decode", bad, out, "--model", tiny_model_path)
    assert r.returncode == 1
    assert r.stderr.startswith("yoto: error:") and "Traceback" not in r.stderr
    assert not out.exists() and not list(encoded.glob(f".{kind}.png*"))


def test_out_of_range_lmbda_is_refused_without_writing(encoded, tiny_model_path):
    out = encoded / "refused.yoto"
    r = yoto("encode", encoded / "in.png", out, "--lmbda", "5", "--model", tiny_model_path)
    assert r.returncode == 1 and "outside this model's trained range" in r.stderr
    assert not out.exists()


def test_missing_input_and_unknown_output_format_are_clear_errors(encoded, tiny_model_path):
    r = yoto("encode", encoded / "nope.png", encoded / "x.yoto", "-l", "0.01", "--model", tiny_model_path)
    assert r.returncode == 1 and "nope.png" in r.stderr
    r = yoto("decode", encoded / "in.yoto", encoded / "x.unknown", "--model", tiny_model_path)
    assert r.returncode == 1 and "unknown image format" in r.stderr


@pytest.mark.parametrize("args", [["encode", "in.png", "-l", "0.01"], ["decode", "in.yoto"]])
def test_an_output_that_is_the_input_is_refused_and_the_input_kept(encoded, tiny_model_path, capsys, args):
    command, name, *options = args
    source = encoded / name
    before = source.read_bytes()
    same = str(encoded / "." / name)  # another spelling of the input's path
    assert cli.main([command, str(source), same, *options, "--model", str(tiny_model_path)]) == 1
    assert "is the input file" in capsys.readouterr().err and source.read_bytes() == before


def test_a_directory_as_output_or_model_and_unreadable_stdin_are_named_plainly(encoded, tiny_model_path, tmp_path):
    (tmp_path / "dir.yoto").mkdir()
    r = yoto("encode", encoded / "in.png", tmp_path / "dir.yoto", "-l", "0.01", "--model", tiny_model_path)
    assert r.returncode == 1 and "dir.yoto is a directory: name the output file" in r.stderr and ".tmp" not in r.stderr
    r = yoto("encode", encoded / "in.png", tmp_path / "x.yoto", "-l", "0.01", "--model", tmp_path)
    assert r.returncode == 1 and "is not a model file: it is not a regular file" in r.stderr
    cmd = [sys.executable, "-m", "yotocodec.cli", "encode", "-", str(tmp_path / "x.yoto"), "-l", "0.01"]
    r = subprocess.run(cmd, input=b"not an image", capture_output=True, timeout=300)
    assert r.returncode == 1 and r.stderr.decode().strip() == "yoto: error: <stdin>: not a readable image (no format Pillow reads)"


@pytest.mark.parametrize("option", [["--size", "0.5"], ["--size", "abc"], ["--bpp", "0"], ["--psnr", "-3"],
                                    ["--quality", "100.5"], ["-l", "nan"], ["-l", "-0.01"],
                                    ["-l", "0.01", "--refine", "-3"], ["-l", "0.01", "--jobs", "0"]])
def test_impossible_option_values_are_usage_errors_before_any_work(capsys, option):
    with pytest.raises(SystemExit) as stop:
        cli.main(["encode", "in.png", "out.yoto", *option])
    assert stop.value.code == 2 and f"'{option[-1]}' is not" in capsys.readouterr().err


@pytest.mark.parametrize("setting", [["--lmbda", "0.01"], ["-q", "50"]])
def test_strict_with_a_setting_that_is_always_met_is_a_usage_error(capsys, setting):
    with pytest.raises(SystemExit) as stop:
        cli.main(["encode", "in.png", "out.yoto", "--strict", *setting])
    assert stop.value.code == 2 and "--strict applies to --size" in capsys.readouterr().err


def test_decode_to_stdout_takes_any_writable_format_and_refuses_others_before_decoding(encoded, tiny_model_path):
    args = ["decode", encoded / "in.yoto", "-", "--model", tiny_model_path, "--format"]
    r = subprocess.run([sys.executable, "-m", "yotocodec.cli", *map(str, args), "jpg"], capture_output=True, timeout=300)
    assert r.returncode == 0 and r.stdout.startswith(b"\xff\xd8")  # a JPEG
    r = yoto(*args, "psd")
    assert r.returncode == 1 and r.stderr.startswith("yoto: error: unknown image format 'psd'") and "Traceback" not in r.stderr


@pytest.mark.parametrize("fmt, magic", [("tiff", (b"II*\0", b"MM\0*")), ("pdf", (b"%PDF",))])
def test_decode_to_a_pipe_writes_formats_whose_writers_seek(encoded, tiny_model_path, fmt, magic):
    args = ["decode", encoded / "in.yoto", "-", "--model", tiny_model_path, "--format", fmt]
    r = subprocess.run([sys.executable, "-m", "yotocodec.cli", *map(str, args)], capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(magic)


@pytest.mark.parametrize("output", ["x.xbm", "x.grib"])  # XBM takes 1-bit images only; GRIB needs a handler
def test_decode_refuses_a_format_that_cannot_hold_the_image_before_decoding(encoded, tiny_model_path, tmp_path,
                                                                           capsys, monkeypatch, output):  # fmt: skip
    monkeypatch.setattr("yotocodec.codec.decode", lambda *a, **k: pytest.fail("decoded"))
    args = ["decode", str(encoded / "in.yoto"), str(tmp_path / output), "--model", str(tiny_model_path)]
    assert cli.main(args) == 1
    assert "cannot write RGB images as" in capsys.readouterr().err and not (tmp_path / output).exists()


def test_batch_decode_names_its_outputs_by_the_formats_own_suffix(encoded, tiny_model_path, tmp_path):
    args = ["decode", str(encoded / "in.yoto"), "-o", str(tmp_path / "out"), "--format", "jpeg2000"]
    assert cli.main([*args, "--model", str(tiny_model_path)]) == 0
    assert Image.open(tmp_path / "out" / "in.jp2").format == "JPEG2000"


@pytest.mark.parametrize("output, options, message", [
    ("x.psd", [], "unknown image format '.psd'"),
    ("x", [], "no suffix to tell the image format"),
    ("x.png", ["--format", "webp"], "x.png names PNG but --format says webp"),
])  # fmt: skip
def test_decode_refuses_an_unwritable_or_contradicted_output_format_before_decoding(tmp_path, capsys, output, options, message):
    broken = tmp_path / "broken.yoto"
    broken.write_bytes(b"not even a .yoto file")  # decoding it would fail with another message
    assert cli.main(["decode", str(broken), str(tmp_path / output), *options]) == 1
    assert message in capsys.readouterr().err and not (tmp_path / output).exists()


def test_decode_writes_the_format_its_output_names(encoded, tiny_model_path):
    out = encoded / "named.webp"
    assert cli.main(["decode", str(encoded / "in.yoto"), str(out), "--format", "WEBP", "--model", str(tiny_model_path)]) == 0
    assert Image.open(out).format == "WEBP"


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    d = tmp_path_factory.mktemp("targets")
    Image.open(SAMPLE).convert("RGB").crop((256, 128, 448, 256)).save(d / "crop.png")
    return d


def test_size_target_writes_a_file_at_or_just_below_it(photo):
    r = yoto("encode", photo / "crop.png", photo / "s.yoto", "--size", "2.5KB")
    assert r.returncode == 0, r.stderr
    assert 0.98 * 2500 <= (photo / "s.yoto").stat().st_size <= 2500 and "size target 2.5KB" in r.stdout


def test_unreachable_target_warns_or_fails_when_strict(photo):
    r = yoto("encode", photo / "crop.png", photo / "big.yoto", "--size", "50")
    assert r.returncode == 0 and "out of this model's reach for this image: the closest is" in r.stderr and (photo / "big.yoto").exists()
    r = yoto("encode", photo / "crop.png", photo / "roomy.yoto", "--size", "10MB", "--strict")  # λ_max's file fits
    assert r.returncode == 0 and "reach" not in r.stderr and (photo / "roomy.yoto").exists()
    r = yoto("encode", photo / "crop.png", photo / "strict.yoto", "--psnr", "60", "--strict")
    assert r.returncode == 1 and "out of this model's reach" in r.stderr and not (photo / "strict.yoto").exists()


def test_exactly_one_rate_setting_is_accepted(photo):
    r = yoto("encode", photo / "crop.png", photo / "x.yoto", "--lmbda", "0.01", "--bpp", "0.5")
    assert r.returncode == 2 and "not allowed with" in r.stderr
    r = yoto("encode", photo / "crop.png", photo / "q.yoto", "--quality", "75")
    assert r.returncode == 0 and "λ=" in r.stdout


def test_batch_mode_codes_files_directories_and_globs_with_a_summary(photo, tiny_model_path):
    src = photo / "batch"
    src.mkdir()
    for name in ("a.png", "b.jpg"):
        Image.open(photo / "crop.png").save(src / name)
    (src / "notes.txt").write_text("not an image")
    r = yoto("encode", src, photo / "crop.p*g", "-o", photo / "enc", "-l", "0.02", "--model", tiny_model_path)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (photo / "enc").iterdir()) == ["a.yoto", "b.yoto", "crop.yoto"]
    assert "3 of 3 files" in r.stdout and "b.jpg" in r.stdout
    r = yoto("decode", photo / "enc", "-o", photo / "dec", "--model", tiny_model_path, "--jobs", "2")
    assert r.returncode == 0 and sorted(p.name for p in (photo / "dec").iterdir()) == ["a.png", "b.png", "crop.png"]


def test_stdin_and_stdout_carry_the_data(photo, tiny_model_path):
    args = [sys.executable, "-m", "yotocodec.cli"]
    enc = subprocess.run([*args, "encode", "-", "-", "-l", "0.02", "--model", str(tiny_model_path)],
                         input=(photo / "crop.png").read_bytes(), capture_output=True, timeout=300)  # fmt: skip
    assert enc.returncode == 0 and enc.stdout.startswith(b"YOTO") and b"bpp" in enc.stderr
    dec = subprocess.run([*args, "decode", "-", "-", "--model", str(tiny_model_path)],
                         input=enc.stdout, capture_output=True, timeout=300)  # fmt: skip
    assert dec.returncode == 0 and dec.stdout.startswith(b"\x89PNG")


def test_encode_with_refine_shows_its_steps_and_writes_a_file_that_decodes(encoded, tiny_model_path):
    r = yoto("encode", encoded / "in.png", encoded / "refined.yoto", "--lmbda", "0.02", "--refine", "3",
             "--model", tiny_model_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "refine" in r.stderr and "3/3" in r.stderr
    dec = yoto("decode", encoded / "refined.yoto", encoded / "refined.png", "--model", tiny_model_path)
    assert dec.returncode == 0, dec.stderr


@pytest.mark.parametrize("output", [["t.yoto"], ["-o", "batch"]])
def test_a_size_target_with_refine_refines_every_try_and_writes_a_file(encoded, tiny_model_path, output):
    r = yoto("encode", encoded / "in.png", *[encoded / o if o != "-o" else o for o in output], "--size", "2KB",
             "--refine", "3", "--model", tiny_model_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    written = encoded / "t.yoto" if output == ["t.yoto"] else encoded / "batch" / "in.yoto"
    assert yoto("decode", written, encoded / "t.png", "--model", tiny_model_path).returncode == 0
    if output == ["t.yoto"]:
        assert "3/3" in r.stderr and "each refined" in r.stdout + r.stderr


def test_decode_writes_atomically_and_a_failed_write_leaves_no_output(tmp_path, tiny, tiny_model_path, monkeypatch):
    from yotocodec import codec, files

    (tmp_path / "in.yoto").write_bytes(codec.encode(random_image(np.random.default_rng(2), 24, 40), 0.02, tiny))

    def failing(image, fp, fmt):
        Path(fp).write_bytes(b"\x89PNG half an image")
        raise OSError("disk full")

    monkeypatch.setattr(files, "write_image", failing)
    out = tmp_path / "out.png"
    assert cli.main(["decode", str(tmp_path / "in.yoto"), str(out), "--model", str(tiny_model_path)]) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["in.yoto"]


def test_batch_mode_exits_1_for_a_strict_target_out_of_reach_or_a_corrupt_input(tmp_path, tiny_model_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray(random_image(np.random.default_rng(3), 24, 40)).save(src / "good.png")
    model = ["--model", str(tiny_model_path)]
    assert cli.main(["encode", str(src / "good.png"), "-o", str(tmp_path / "strict"), "--size", "10B", "--strict", *model]) == 1
    assert "out of this model's reach" in capsys.readouterr().out and not (tmp_path / "strict" / "good.yoto").exists()
    (src / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n cut short")
    assert cli.main(["encode", str(src), "-o", str(tmp_path / "mixed"), "-l", "0.02", *model]) == 1
    assert "1 of 2 files" in capsys.readouterr().out and (tmp_path / "mixed" / "good.yoto").exists()


@pytest.mark.parametrize("error", [MemoryError(), RuntimeError(
    "[enforce fail at alloc_cpu.cpp:117] . DefaultCPUAllocator: can't allocate memory: you tried to allocate 1811939328 bytes")])
def test_running_out_of_memory_is_one_line_and_no_output(encoded, tiny_model_path, monkeypatch, capsys, error):
    from yotocodec import codec

    def exhausted(*args, **kwargs):
        raise error

    monkeypatch.setattr(codec, "decode", exhausted)
    out = encoded / "oom.png"
    assert cli.main(["decode", str(encoded / "in.yoto"), str(out), "--model", str(tiny_model_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("yoto: error: out of memory") and err.count("\n") == 1 and not out.exists()


def test_sigterm_while_writing_removes_the_unfinished_output_keeps_the_old_and_exits_143(encoded, tiny_model_path,
                                                                                        monkeypatch, capsys):  # fmt: skip
    from yotocodec import files

    out = encoded / "stopped.png"
    out.write_bytes(b"the old file")
    write = files.write_image

    def stopped_midway(image, tmp, fmt):
        write(image, tmp, fmt)
        os.kill(os.getpid(), signal.SIGTERM)  # as `kill` or a service manager stops it

    monkeypatch.setattr(files, "write_image", stopped_midway)
    assert cli.main(["decode", str(encoded / "in.yoto"), str(out), "--model", str(tiny_model_path)]) == 143
    assert capsys.readouterr().err == "yoto: stopped by SIGTERM\n" and out.read_bytes() == b"the old file"
    assert not list(encoded.glob(".stopped.png.*")) and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_an_ignored_sighup_stays_ignored_as_nohup_asks(encoded, tiny_model_path, monkeypatch):
    from yotocodec import files

    write = files.write_image

    def hung_up_midway(image, tmp, fmt):
        os.kill(os.getpid(), signal.SIGHUP)  # the terminal closed
        write(image, tmp, fmt)

    monkeypatch.setattr(files, "write_image", hung_up_midway)
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        out = encoded / "nohup.png"
        assert cli.main(["decode", str(encoded / "in.yoto"), str(out), "--model", str(tiny_model_path)]) == 0
        assert Image.open(out).size == (90, 70) and signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)


@pytest.mark.parametrize("command, closed", [("decode - out.png --model M", "<&-"), ("info -", "<&-"),
                                             ("encode in.png - -l 0.01 --model M", ">&-")])
def test_a_closed_stdin_or_stdout_is_a_clear_error(encoded, tiny_model_path, command, closed):
    cmd = f"{sys.executable} -m yotocodec.cli {command.replace('M', str(tiny_model_path))} {closed}"
    r = subprocess.run(["bash", "-c", cmd], cwd=encoded, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and r.stderr.startswith("yoto: error: std") and "is closed" in r.stderr, r.stderr


def test_decode_errors_name_the_input(encoded, tiny_model_path, capsys):
    (encoded / "empty.yoto").write_bytes(b"")
    assert cli.main(["decode", str(encoded / "empty.yoto"), str(encoded / "x.png"), "--model", str(tiny_model_path)]) == 1
    assert capsys.readouterr().err == f"yoto: error: {encoded / 'empty.yoto'}: empty input: not a .yoto file\n"


def test_other_runtime_errors_are_not_called_out_of_memory(encoded, tiny_model_path, monkeypatch):
    from yotocodec import codec

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(codec, "decode", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(["decode", str(encoded / "in.yoto"), str(encoded / "x.png"), "--model", str(tiny_model_path)])


def test_help_version_info_and_the_package_import_leave_torch_and_compressai_unloaded(encoded):
    """compressai's import takes seconds (torch_geometric), torch's more than one; only the codec
    and training need them."""
    check = ("import contextlib, io, sys, yotocodec; from yotocodec import cli\n"
             "with contextlib.redirect_stdout(io.StringIO()):\n"
             "    assert cli.main(['info', sys.argv[1]]) == 0\n"
             "    for flag in ('--help', '--version'):\n"
             "        with contextlib.suppress(SystemExit): cli.main([flag])\n"
             "assert not {'torch', 'compressai'} & set(sys.modules), 'torch or compressai was imported'\n"
             "assert yotocodec.decode and 'torch' in sys.modules")  # fmt: skip
    r = subprocess.run([sys.executable, "-c", check, str(encoded / "in.yoto")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr


def test_encode_and_decode_with_the_shipped_model_leave_compressai_unloaded(encoded):
    """compressai's import takes ~3 s (torch_geometric, scipy.stats); training and refinement
    need it, while the codec runs a model file without it."""
    check = ("import sys; from yotocodec import cli\n"
             "d = sys.argv[1] + '/'\n"
             "assert cli.main(['encode', d + 'in.png', d + 'shipped.yoto', '-l', '0.01']) == 0\n"
             "assert cli.main(['decode', d + 'shipped.yoto', d + 'shipped.png']) == 0\n"
             "assert 'compressai' not in sys.modules, 'compressai was imported'")  # fmt: skip
    r = subprocess.run([sys.executable, "-c", check, str(encoded)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert Image.open(encoded / "shipped.png").size == (90, 70)
