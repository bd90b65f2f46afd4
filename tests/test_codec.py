"""encode/decode with a tiny model: exact round trip, any size, λ from the bytes, clear errors;
the folded/sub-pixel inference transforms equal the conditioned ones."""

import array
import io
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

import yotocodec
from yotocodec import codec, inference
from yotocodec.bitstream import BitstreamError, parse
from yotocodec.modelfile import save_model

from conftest import SAMPLE, random_image, tiny_model


@pytest.mark.parametrize("size", [(64, 64), (37, 53), (1, 1), (130, 70)])
def test_decode_equals_the_models_own_reconstruction_at_any_size(tiny, rng, size):
    image = random_image(rng, *size)
    data = codec.encode(image, 0.01, tiny)
    decoded = codec.decode(data, tiny)
    expected, _ = codec.reference(image, 0.01, tiny)
    assert decoded.size == (size[1], size[0]) and decoded.mode == "RGB"
    diff = np.abs(np.asarray(decoded, np.int16) - np.asarray(expected, np.int16))
    assert diff.max() <= 1


def test_decoder_takes_lmbda_from_the_bitstream(tiny, rng):
    image = random_image(rng, 64, 64)
    low, high = codec.encode(image, 0.002, tiny), codec.encode(image, 0.2, tiny)
    assert parse(low).header.lmbda == pytest.approx(0.002, rel=1e-4)  # λ snapped to the 2¹⁶-step grid
    assert parse(high).header.lmbda == pytest.approx(0.2, rel=1e-4)
    assert np.asarray(codec.decode(low, tiny)).tobytes() != np.asarray(codec.decode(high, tiny)).tobytes()


def test_pil_and_array_inputs_give_the_same_bytes(tiny, rng):
    image = random_image(rng, 40, 72)
    assert codec.encode(image, 0.05, tiny) == codec.encode(Image.fromarray(image), 0.05, tiny)


def test_grayscale_sources_decode_to_grayscale_and_palette_ones_to_rgb(tiny, rng):
    rgb = Image.fromarray(random_image(rng, 32, 32))
    gray = rgb.convert("L")
    for image, mode in ((gray, "L"), (np.asarray(gray), "L"), (rgb.convert("1"), "L"), (rgb.convert("P"), "RGB")):
        data = codec.encode(image, 0.05, tiny)
        assert codec.decode(data, tiny).mode == codec.inspect(data).mode == mode
    as_rgb = [parse(codec.encode(im, 0.05, tiny)) for im in (gray, gray.convert("RGB"))]
    assert as_rgb[0].y_stream == as_rgb[1].y_stream and as_rgb[0].header.flags != as_rgb[1].header.flags


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_analysis_predicts_the_decoded_image_exactly_without_coding(tiny, rng, mode):
    image = Image.fromarray(random_image(rng, 45, 70)).convert(mode)
    analysis = codec.analyse(image, 0.03, tiny)
    decoded = codec.decode(analysis.pack(), tiny)
    assert analysis.decoded().mode == decoded.mode == mode
    assert np.array_equal(np.asarray(analysis.decoded()), np.asarray(decoded))


def test_blended_latents_take_their_ends_at_the_ends_and_decode_at_the_lambda_between(tiny, rng):
    image = random_image(rng, 45, 70)
    a, b = codec.analyse(image, 0.01, tiny), codec.analyse(image, 0.04, tiny)
    assert torch.equal(codec.blend(a, b, 0.01).y, a.y) and torch.allclose(codec.blend(a, b, 0.04).y, b.y)
    mid = codec.blend(a, b, 0.02)
    assert codec.inspect(mid.pack()).lmbda == pytest.approx(0.02, rel=1e-4)
    assert np.array_equal(np.asarray(codec.decode(mid.pack(), tiny)), np.asarray(mid.decoded()))
    with pytest.raises(ValueError, match="not between"):
        codec.blend(a, b, 0.05)
    with pytest.raises(ValueError, match="same image"):
        codec.blend(a, codec.analyse(random_image(rng, 64, 70), 0.04, tiny), 0.02)
    assert torch.equal(codec.blend(a, a, 0.01).y, a.y)  # two analyses at one λ: only that λ is between
    with pytest.raises(ValueError, match="not between"):
        codec.blend(a, a, 0.02)


def test_threads_encoding_at_once_compute_their_side_information_at_once(tiny, rng, monkeypatch):
    a, b = (codec.analyse(random_image(rng, 40, 40), lmbda, tiny) for lmbda in (0.01, 0.02))
    both = threading.Barrier(2, timeout=20)  # broken unless the two threads are inside at the same time
    hyper_synthesis = codec._hyper_synthesis

    def meeting(model, k):
        both.wait()
        return hyper_synthesis(model, k)

    monkeypatch.setattr(codec, "_hyper_synthesis", meeting)
    threads = [threading.Thread(target=lambda x=x: x.side) for x in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not both.broken and "_side" in a.__dict__ and "_side" in b.__dict__


@pytest.mark.parametrize("lmbda", [1e-4, 0.3, float("nan"), float("inf"), -1.0, "x"])
def test_lmbda_outside_the_trained_range_is_refused(tiny, rng, lmbda):
    with pytest.raises(ValueError, match="λ"):
        codec.encode(random_image(rng, 16, 16), lmbda, tiny)


@pytest.mark.parametrize(
    "image, match",
    [
        (Image.new("RGBA", (8, 8)), "alpha"),
        (Image.new("I;16", (8, 8)), "8-bit"),
        (np.zeros((8, 8, 4), np.uint8), "uint8 array, RGB"),
        (np.zeros((8, 8, 3), np.float32), "uint8 array, RGB"),
        (np.zeros((0, 8, 3), np.uint8), "empty"),
        (Image.new("RGB", (0, 8)), "empty"),
        (np.zeros(8, np.uint8), "uint8 array, RGB"),
    ],
)
def test_unsupported_images_are_refused_with_the_reason(tiny, image, match):
    with pytest.raises(ValueError, match=match):
        codec.encode(image, 0.01, tiny)


@pytest.mark.parametrize("image, match", [("photo.png", "got the path 'photo.png': open it first"),
                                          (Path("photo.png"), "got the path 'photo.png'"), ([[0]], "got list"),
                                          (np.uint8(3), "got uint8"), (b"\x89PNG", "got bytes")])
@pytest.mark.parametrize("setting", [{"lmbda": 0.01}, {"size": "1KB"}, {"psnr": 30}])
def test_what_is_not_an_image_is_a_type_error_saying_what_to_pass(tiny, image, match, setting):
    with pytest.raises(TypeError, match=f"expected a PIL image or a uint8 array, {match}"):
        yotocodec.encode(image, model=tiny, **setting)


def test_bitstream_of_another_model_is_refused_by_id(tiny, rng):
    other = tiny_model(seed=1)
    other.update()
    data = codec.encode(random_image(rng, 32, 32), 0.01, other)
    with pytest.raises(BitstreamError, match="made with model"):
        codec.decode(data, tiny)


def test_package_top_level_exposes_the_api(tiny, rng):
    image = random_image(rng, 24, 24)
    data = yotocodec.encode(image, lmbda=0.01, model=tiny)
    assert isinstance(data, bytes)
    assert isinstance(yotocodec.decode(data, model=tiny), Image.Image)
    assert yotocodec.inspect(data).width == 24


def test_inspect_counts_bytes_of_any_bytes_like_input(tiny):
    data = yotocodec.encode(random_image(np.random.default_rng(3), 24, 40), lmbda=0.01, model=tiny)
    words = memoryview(array.array("I", data))  # 4-byte items: len() would count a quarter
    assert yotocodec.inspect(words).num_bytes == yotocodec.inspect(data).num_bytes == len(data)


def test_subpixel_convolution_equals_the_transposed_one():
    deconv = torch.nn.ConvTranspose2d(6, 5, 5, stride=2, padding=2, output_padding=1)  # CompressAI's deconv
    x = torch.randn(2, 6, 7, 9)
    fast = inference.subpixel(deconv.weight.detach(), deconv.bias.detach(), 2, 2)
    assert torch.allclose(fast(x), deconv(x), atol=1e-5)


def test_folded_transforms_equal_the_film_conditioned_ones(tiny):
    t = tiny.condition(torch.tensor([0.02]))
    tf = inference.Transforms(tiny, t)
    x = torch.rand(1, 3, 64, 128)
    with torch.no_grad():
        y = tiny.g_a(x, t)
        assert torch.allclose(tf.g_a(x), y, atol=1e-4)
        assert torch.allclose(tf.g_s(y), tiny.g_s(y, t), atol=1e-4)
        z = tiny.h_a(y.abs(), t)
        assert torch.allclose(tf.h_a(y.abs()), z, atol=1e-4)
        assert torch.allclose(tf.h_s(z), tiny.h_s(z, t), atol=1e-4)


def test_folded_g_s_passes_the_film_conditioned_gradient_to_its_input(tiny):
    """Refinement differentiates the decoder's g_s with respect to y: its in-place GDN must
    step aside for autograd."""
    t = tiny.condition(torch.tensor([0.02]))
    y = torch.randn(1, tiny.config.M, 4, 8, requires_grad=True)
    (reference,) = torch.autograd.grad(tiny.g_s(y, t).square().sum(), [y])
    (folded,) = torch.autograd.grad(inference.Transforms(tiny, t).g_s(y).square().sum(), [y])
    assert torch.allclose(folded, reference, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("halo, close", [(inference.HALO, True), (0, False)])
def test_tiled_transforms_match_whole_image_ones_given_the_halo(shipped, halo, close):
    image = np.asarray(Image.open(SAMPLE).convert("RGB").crop((0, 0, 384, 256)))
    with torch.no_grad():
        tf = inference.Transforms(shipped, codec._rate(0.02, shipped).t)
        x = codec.to_tensor(image)
        y = inference.analysis(tf.g_a, x, 24)
        tiled_y = inference.analysis(tf.g_a, x, 8, halo)
        whole = inference.synthesis(tf.g_s, torch.round(y), 256, 384, 24)
        tiled = inference.synthesis(tf.g_s, torch.round(y), 256, 384, 8, halo)
    y_err = float((tiled_y - y).abs().max())
    px_err = int(np.abs(tiled.astype(int) - whole).max())
    assert (y_err < 1e-3 and px_err <= 1) if close else (y_err > 0.01 and px_err > 1)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_tiled_passes_show_progress_on_a_terminal_and_single_tiles_stay_quiet(monkeypatch):
    g_a, x = torch.nn.AvgPool2d(inference.STRIDE), torch.rand(1, 3, 64, 96)  # y: 4 × 6 latents
    for tile, shown in ((2, True), (6, False)):
        monkeypatch.setattr(sys, "stderr", _Terminal())
        inference.analysis(g_a, x, tile)
        assert ("analysis:   0%" in sys.stderr.getvalue() and "/6 [" in sys.stderr.getvalue()) == shown


def test_padding_to_the_latent_grid_replicates_the_edge_pixels(tiny, rng):
    image = random_image(rng, 45, 70)
    edge = np.pad(image, ((0, 64 - 45), (0, 128 - 70), (0, 0)), mode="edge")
    assert torch.equal(codec.analyse(image, 0.02, tiny).y, codec.analyse(edge, 0.02, tiny).y)


def test_a_pil_image_is_coded_upright_as_its_exif_orientation_says(tiny, tmp_path, rng):
    Image.fromarray(random_image(rng, 24, 40)).save(tmp_path / "turned.png", exif=_orientation(6))  # shown 24 wide
    decoded = yotocodec.decode(yotocodec.encode(Image.open(tmp_path / "turned.png"), lmbda=0.01, model=tiny), model=tiny)
    assert decoded.size == (24, 40)


@pytest.mark.parametrize("orientation", [3, 6])
def test_a_psnr_target_on_an_exif_turned_pil_image_is_judged_upright(shipped, tmp_path, orientation):
    Image.open(SAMPLE).crop((300, 200, 396, 264)).save(tmp_path / "turned.png", exif=_orientation(orientation))
    upright = ImageOps.exif_transpose(Image.open(tmp_path / "turned.png"))
    turned, plain = (yotocodec.encode(im, psnr=37.0, model=shipped) for im in (Image.open(tmp_path / "turned.png"), upright))
    assert turned == plain


@pytest.mark.parametrize("shape", [(40, 30), (30, 41)])  # too many pixels; a side too long
def test_an_image_too_large_for_the_format_is_refused_before_g_a_runs(tiny, monkeypatch, rng, shape):
    monkeypatch.setattr("yotocodec.bitstream.MAX_PIXELS", 1000)
    monkeypatch.setattr("yotocodec.bitstream.MAX_SIDE", 40)
    monkeypatch.setattr("yotocodec.inference.analysis", lambda *a, **k: pytest.fail("g_a ran"))
    for image in (random_image(rng, *shape), Image.fromarray(random_image(rng, *shape))):
        with pytest.raises(ValueError, match="over the .yoto format's limits"):
            yotocodec.encode(image, lmbda=0.01, model=tiny)


def _orientation(value: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif


def test_model_may_be_given_as_a_file_path(tiny, tmp_path, rng):
    save_model(tiny, tmp_path / "tiny.pt")
    image = random_image(rng, 24, 40)
    data = yotocodec.encode(image, lmbda=0.01, model=str(tmp_path / "tiny.pt"))
    assert data == yotocodec.encode(image, lmbda=0.01, model=tiny)
    assert yotocodec.decode(data, model=tmp_path / "tiny.pt").size == (40, 24)
