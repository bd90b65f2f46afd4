"""The RD benchmark harness: its JPEG numbers match an independent Pillow measurement, it
writes CompressAI-layout results, a second run reuses the cached points, and the model
comparison that decides what ships tells a worse model from an equal one."""

import io
import json
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, SAMPLE
from yotocodec import codec
from yotocodec.model import ModelConfig, ScaleHyperprior, widen
from yotocodec.modelfile import save_model

sys.path.insert(0, str(ROOT / "benchmarks"))
rd = pytest.importorskip("rd")


@pytest.fixture(scope="module")
def crop() -> Image.Image:
    return Image.open(SAMPLE).convert("RGB").crop((256, 128, 512, 384))


@pytest.fixture(scope="module")
def result(tmp_path_factory, tiny_model_path, crop):
    folder = tmp_path_factory.mktemp("images")
    crop.save(folder / "crop.png")
    out = tmp_path_factory.mktemp("results")
    rd.run(str(folder), str(tiny_model_path), out, ["jpeg444"])
    return folder, out


def independent_jpeg(image: Image.Image, quality: int) -> tuple[float, float]:
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality, subsampling=0)
    decoded = np.asarray(Image.open(buf).convert("RGB"), dtype=np.float64)
    mse = np.mean((decoded - np.asarray(image, dtype=np.float64)) ** 2)
    return 8 * buf.getbuffer().nbytes / (image.width * image.height), 10 * np.log10(255**2 / mse)


def test_jpeg_points_match_an_independent_pillow_measurement(result, crop):
    folder, out = result
    res = json.loads((out / folder.name / "jpeg444.json").read_text())["results"]
    qualities = next(c for c in rd.classical_codecs() if c.key == "jpeg444").params
    for q, bpp, psnr in zip(qualities, res["bpp"], res["psnr-rgb"]):
        ref_bpp, ref_psnr = independent_jpeg(crop, q)
        assert abs(bpp - ref_bpp) <= 0.01 and abs(psnr - ref_psnr) <= 0.05, q


def test_results_use_compressai_layout_and_yotocodec_has_twelve_rates(result):
    folder, out = result
    res = json.loads((out / folder.name / "yotocodec.json").read_text())["results"]
    assert {"psnr-rgb", "ms-ssim-rgb", "bpp", "encoding_time", "decoding_time"} <= set(res)
    assert len(res["bpp"]) >= 12 and all(0 < v <= 1 for v in res["ms-ssim-rgb"])
    assert (out / folder.name / "rd.md").exists() and (out / folder.name / "rd-ms-ssim.png").exists()


def test_a_second_run_reuses_the_cached_points(result, tiny_model_path):
    folder, out = result
    points = out / folder.name / "points.jsonl"
    before = points.read_text()
    rd.run(str(folder), str(tiny_model_path), out, ["jpeg444"])
    assert points.read_text() == before


def test_a_refined_curve_is_reported_against_the_plain_one_and_the_anchors(tmp_path, tiny_model_path, crop):
    folder = tmp_path / "images"
    folder.mkdir()
    crop.save(folder / "crop.png")
    result = rd.run(str(folder), str(tiny_model_path), tmp_path / "out", ["jpeg444"], refine_steps=2)
    assert result["ours"] == ["yotocodec", "yotocodec --refine 2"]
    assert len(result["curves"]["yotocodec --refine 2"]) == len(rd.REFINE_LMBDAS)
    assert list(result["bd_rate_percent"]["yotocodec --refine 2"]) == ["yotocodec", "JPEG 4:4:4"]
    assert "BD-rate of yotocodec --refine 2" in (tmp_path / "out" / "images" / "rd.md").read_text()


def test_model_comparison_finds_nothing_against_itself_and_the_cost_of_a_worse_model(tmp_path, shipped, crop):
    compare_models = pytest.importorskip("compare_models")
    folder = tmp_path / "images"
    folder.mkdir()
    crop.save(folder / "crop.png")
    same = compare_models.compare(str(codec.DEFAULT_MODEL), None, str(folder), tmp_path / "points.jsonl")
    assert same["bd_rate_percent"]["psnr"] == pytest.approx(0, abs=1e-9)
    wide = ScaleHyperprior(ModelConfig(shipped.config.N * 2, shipped.config.M))
    widen(shipped, wide)  # same images, a few more bits for its untrained z channels
    save_model(wide, tmp_path / "wide.pt")
    worse = compare_models.compare(str(tmp_path / "wide.pt"), None, str(folder), tmp_path / "points.jsonl")
    assert worse["bd_rate_percent"]["psnr"] > 0.5
    assert "BD-rate of the candidate: +" in compare_models.report(worse, "wide.pt", None)
