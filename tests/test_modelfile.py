"""Model files: safe loading, identity check, clear errors."""

import os

import pytest
import torch

from yotocodec.modelfile import load_model, model_id, save_model

from conftest import tiny_model


def test_saved_model_loads_with_the_same_id(tmp_path):
    model = tiny_model()
    mid = save_model(model, tmp_path / "m.pt")
    assert model_id(load_model(tmp_path / "m.pt")) == mid


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
