"""Model files: safe loading, identity check, clear errors."""

import os

import pytest
import torch
from PIL import Image

from yotocodec import cli
from yotocodec.modelfile import CodecModel, load_codec_model, load_model, model_id, save_model

from conftest import tiny_model


def test_saved_model_loads_with_the_same_id(tmp_path):
    model = tiny_model()
    mid = save_model(model, tmp_path / "m.pt")
    assert model_id(load_model(tmp_path / "m.pt")) == mid


@torch.no_grad()
def test_the_codec_model_runs_the_network_it_names_without_compressai_layers(tmp_path):
    """``CodecModel`` (GDN as stored parameters, the prior as its frozen tables) must compute
    what the trainable network with compressai's GDN and EntropyBottleneck computes."""
    model = tiny_model()
    for gdn in (model.g_a[2], model.g_s[5]):  # below the reparametrisation's bound, as trained ones go
        gdn.beta.data[0], gdn.gamma.data[0, 1:] = -1.0, -0.1
    mid = save_model(model, tmp_path / "m.pt")
    ours, net = load_codec_model(tmp_path / "m.pt"), load_model(tmp_path / "m.pt")
    assert ours.id == model_id(ours) == model_id(net) == mid
    assert not any(type(m).__module__.startswith("compressai") for m in ours.modules())
    t = net.condition(torch.tensor([0.02]))
    x = torch.rand(1, 3, 64, 64)
    y = net.g_a(x, t)
    assert torch.equal(ours.g_a(x, t), y) and torch.equal(ours.g_s(y, t), net.g_s(y, t))
    z = net.h_a(y.abs(), t)
    assert torch.equal(ours.h_a(y.abs(), t), z) and torch.equal(ours.h_s(z, t), net.h_s(z, t))
    eb = net.entropy_bottleneck
    assert torch.equal(ours.z_hat(ours.z_symbols(z)), eb.quantize(z, "dequantize", eb._get_medians()))


def test_codec_model_of_a_network_shares_its_weights_and_id():
    model = tiny_model()
    model.update()
    ours = CodecModel.of(model)
    assert ours.network is model and ours.id == model_id(model)
    assert ours.g_s[0].weight.data_ptr() == model.g_s[0].weight.data_ptr()


def test_a_model_file_missing_weights_is_refused_by_name(tmp_path):
    save_model(tiny_model(), tmp_path / "m.pt")
    blob = torch.load(tmp_path / "m.pt", weights_only=True)
    del blob["state_dict"]["g_s.2.beta"], blob["state_dict"]["entropy_bottleneck._cdf_length"]
    torch.save(blob, tmp_path / "m.pt")
    with pytest.raises(ValueError, match=r"not a complete yotocodec model file: .* lack entropy_bottleneck._cdf_length \(and 1 more\)"):
        load_codec_model(tmp_path / "m.pt")


@pytest.mark.parametrize("spoil, match", [(lambda b: b.pop("model_id"), "it has no 'model_id'"),
                                          (lambda b: b.pop("state_dict"), "it has no 'state_dict'"),
                                          (lambda b: b["config"].update(colour="blue"), "unexpected keyword"),
                                          (lambda b: b["config"].update(N=16), "size mismatch")])
def test_a_model_file_with_parts_missing_or_not_fitting_is_refused_in_one_line(tmp_path, tiny_model_path, spoil,
                                                                               match, capsys):  # fmt: skip
    blob = torch.load(tiny_model_path, weights_only=True)
    spoil(blob)
    torch.save(blob, tmp_path / "m.pt")
    with pytest.raises(ValueError, match=f"m.pt is not a complete yotocodec model file: .*{match}"):
        load_codec_model(tmp_path / "m.pt")
    image = tmp_path / "a.png"
    Image.new("RGB", (8, 8)).save(image)
    assert cli.main(["encode", str(image), str(tmp_path / "a.yoto"), "-l", "0.01", "--model", str(tmp_path / "m.pt")]) == 1
    assert capsys.readouterr().err.count("\n") == 1


def test_tampered_weights_are_detected(tmp_path):
    save_model(tiny_model(), tmp_path / "m.pt")
    blob = torch.load(tmp_path / "m.pt", weights_only=True)
    blob["state_dict"]["g_a.0.weight"][0, 0, 0, 0] += 1e-3
    torch.save(blob, tmp_path / "m.pt")
    with pytest.raises(ValueError, match="corrupted"):
        load_model(tmp_path / "m.pt")


@pytest.mark.parametrize("content, match", [(b"garbage", "not a yotocodec model file .unreadable"),
                                            ({"step": 3}, "not a yotocodec model file$"), (None, "not found")])
def test_unreadable_model_files_give_clear_errors(tmp_path, content, match):
    path = tmp_path / "m.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        torch.save(content, path)
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        load_model(path)


def test_half_model_file_is_smaller_and_loads_as_the_model_it_names(tmp_path):
    model = tiny_model()
    full, half = tmp_path / "full.pt", tmp_path / "half.pt"
    save_model(model, full)
    mid = save_model(model, half, half=True)
    loaded = load_model(half)
    assert model_id(loaded) == mid != model_id(load_model(full))
    assert half.stat().st_size < 0.75 * full.stat().st_size
    for p, q in zip(model.parameters(), loaded.parameters()):
        assert q.dtype == torch.float32 and torch.equal(q, p.half().float())


class _Payload:
    """Unpickling this runs ``os.mkdir(marker)``: code in a file that claims to be a model."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def test_model_files_are_loaded_without_running_pickled_code(tmp_path):
    marker = tmp_path / "ran"
    torch.save({"format": "yotocodec-model", "payload": _Payload(marker)}, tmp_path / "m.pt")
    with pytest.raises(ValueError) as refused:
        load_model(tmp_path / "m.pt")
    assert not marker.exists() and "not a yotocodec model file" in str(refused.value)


def test_other_model_format_versions_are_refused(tmp_path):
    save_model(tiny_model(), tmp_path / "m.pt")
    blob = torch.load(tmp_path / "m.pt", weights_only=True)
    torch.save(blob | {"version": 2}, tmp_path / "m.pt")
    with pytest.raises(ValueError, match="model format version 2, expected 1"):
        load_model(tmp_path / "m.pt")


@pytest.mark.parametrize("kernel_size, stride", [(5, 2), (3, 1)])
def test_conv_helpers_have_compressai_geometry(kernel_size, stride):
    """model.py writes compressai's two helpers out so that building a network needs no
    compressai import; their layers must stay the ones compressai makes."""
    from compressai.models import utils

    from yotocodec import model

    for ours, theirs in ((model.conv, utils.conv), (model.deconv, utils.deconv)):
        a, b = ours(4, 6, kernel_size, stride), theirs(4, 6, kernel_size, stride)
        assert type(a) is type(b) and a.weight.shape == b.weight.shape
        geometry = ("stride", "padding", "output_padding", "dilation", "groups")
        assert [getattr(a, g) for g in geometry] == [getattr(b, g) for g in geometry]
