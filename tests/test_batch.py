"""Batch planning: outputs never overwrite an input, and two inputs never share an output."""

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from yotocodec import batch, files

from conftest import random_image


def test_an_output_that_is_an_input_is_refused(tmp_path):
    (tmp_path / "a.png").touch()
    with pytest.raises(ValueError, match="refusing to overwrite"):
        batch.plan([tmp_path / "a.png"], tmp_path, ".png", {}, None)


def test_two_inputs_onto_one_output_are_refused(tmp_path):
    with pytest.raises(ValueError, match="both be written"):
        batch.plan([Path("x/a.png"), Path("y/a.jpg")], tmp_path, ".yoto", {}, None)


def test_a_file_named_twice_is_coded_once(tmp_path):
    for name in ("a.png", "b.png"):
        (tmp_path / name).touch()
    inputs = [str(tmp_path), str(tmp_path / "b.png"), str(tmp_path / "." / "a.png"), str(tmp_path / "*.png")]
    assert batch.expand(inputs, batch.IMAGE_SUFFIXES) == [tmp_path / "a.png", tmp_path / "b.png"]


def test_existing_outputs_are_refused_unless_overwrite_is_asked(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.png").write_bytes(b"the user's original photo")
    with pytest.raises(ValueError, match="1 of the outputs already exist .*--overwrite"):
        batch.plan([Path("x/a.yoto"), Path("x/b.yoto")], tmp_path / "out", ".png", {}, None)
    assert len(batch.plan([Path("x/a.yoto")], tmp_path / "out", ".png", {}, None, overwrite=True)) == 1


def test_an_out_dir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "f").touch()
    with pytest.raises(ValueError, match="is a file, not a directory"):
        batch.plan([Path("a.png")], tmp_path / "f", ".yoto", {}, None)


def test_a_directory_without_images_is_an_error(tmp_path):
    (tmp_path / "notes.txt").touch()
    with pytest.raises(ValueError, match="no .* files in this directory"):
        batch.expand([str(tmp_path)], batch.IMAGE_SUFFIXES)


def test_a_glob_matching_nothing_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no file matches"):
        batch.expand([str(tmp_path / "*.png")], batch.IMAGE_SUFFIXES)


def test_a_failing_file_is_reported_and_the_rest_still_run(tmp_path, tiny_model_path):
    (tmp_path / "bad.png").write_text("not an image")
    Image.fromarray(random_image(np.random.default_rng(0), 20, 30)).save(tmp_path / "good.png")
    sources = [tmp_path / "bad.png", tmp_path / "good.png"]
    bad, good = batch.run(batch.plan(sources, tmp_path / "out", ".yoto", {"lmbda": 0.02}, str(tiny_model_path)))
    assert "not a readable image" in bad["error"] and (tmp_path / "out" / "good.yoto").stat().st_size == good["bytes"]
    assert "1 of 2 files" in batch.table([bad, good])


def test_a_target_out_of_reach_is_flagged_in_its_row_and_in_the_table(tmp_path, tiny_model_path):
    Image.fromarray(random_image(np.random.default_rng(1), 20, 30)).save(tmp_path / "a.png")
    jobs = batch.plan([tmp_path / "a.png"], tmp_path / "out", ".yoto", {"size": "10B"}, str(tiny_model_path))
    (row,) = batch.run(jobs)
    assert "out of this model's reach" in row["warning"] and "warning: size target 10 bytes" in batch.table([row])
    with pytest.raises(ValueError, match="--jobs must be 1 or more"):
        batch.run(jobs, 0)


def _jobs(folder: Path, n: int) -> list[batch.Job]:
    return [batch.Job(folder / f"{i}.png", folder / f"{i}.yoto", {}, None) for i in range(n)]


def _hang_while_writing(job: batch.Job) -> dict:
    """A job that starts writing its output and never finishes (run in a worker)."""
    files.atomic_write(job.target, lambda tmp: time.sleep(600))
    return {}


def _killed(job: batch.Job) -> dict:
    """A job whose worker is killed (as the out-of-memory killer does)."""
    os.kill(os.getpid(), signal.SIGKILL)
    return {}


def test_an_interrupted_batch_stops_its_workers_and_leaves_no_unfinished_output(tmp_path, monkeypatch):
    monkeypatch.setattr(batch, "run_job", _hang_while_writing)  # the forked workers inherit it
    ctrl_c = threading.Timer(5.0, signal.pthread_kill, (threading.main_thread().ident, signal.SIGINT))
    ctrl_c.start()  # Ctrl-C while the main process waits for the workers
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        list(batch.run(_jobs(tmp_path, 4), 2))
    assert time.monotonic() - t0 < 60 and _children_gone()
    assert list(tmp_path.iterdir()) == []  # the workers' temporary files were removed


def test_a_worker_that_dies_fails_its_job_and_the_rest_in_their_rows(tmp_path, monkeypatch):
    monkeypatch.setattr(batch, "run_job", _killed)
    rows = list(batch.run(_jobs(tmp_path, 3), 2))
    assert [r["file"] for r in rows] == [str(tmp_path / f"{i}.png") for i in range(3)]
    assert all("a worker process died" in r["error"] for r in rows) and _children_gone()


def test_batch_workers_exit_when_their_main_process_is_killed(tmp_path):
    script = ("import multiprocessing, sys, time; from pathlib import Path; from yotocodec import batch\n"
              "def hang(job): time.sleep(600)\n"
              "batch.run_job = hang\n"
              "rows = batch.run([batch.Job(Path(f'{i}'), Path(f'{i}.yoto'), {}, None) for i in range(2)], 2)\n"
              "import threading\n"
              "threading.Timer(3, lambda: print(*[p.pid for p in multiprocessing.active_children()], flush=True)).start()\n"
              "next(rows)\n")  # fmt: skip
    main = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    workers = [int(pid) for pid in main.stdout.readline().split()]
    main.kill()
    main.wait()
    assert len(workers) == 2
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_running(pid) for pid in workers):
        time.sleep(0.2)
    assert not any(_running(pid) for pid in workers)


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (not a zombie waiting for a reaper)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _children_gone(timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.1)
    return not multiprocessing.active_children()
