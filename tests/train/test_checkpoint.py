import os
import zipfile

import pytest
import torch

from edgeres.errors import ModelFileError
from edgeres.models import create_model
from edgeres.spec import InputSpec, ModelInfo
from edgeres.train.checkpoint import load_checkpoint, save_checkpoint


def _info():
    return ModelInfo(
        "test_resnet", [f"c{i}" for i in range(10)], InputSpec(32, 32, mean=(0.5,) * 3)
    )


def test_round_trip_keeps_weights_info_and_metrics(tmp_path):
    model = create_model("test_resnet").eval()
    path = save_checkpoint(tmp_path / "m.pt", model, _info(), {"num_classes": 10}, {"acc": 0.9})
    ckpt = load_checkpoint(path)
    assert ckpt.info == _info()
    assert ckpt.metrics == {"acc": 0.9}
    assert ckpt.model_name == "test_resnet"
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(ckpt.model(x), model(x))
    assert not ckpt.model.training
    assert not list(tmp_path.glob(".*tmp*")), "no temp file left behind"


def test_truncated_checkpoint_is_refused(tmp_path):
    path = save_checkpoint(
        tmp_path / "m.pt", create_model("test_resnet"), _info(), {"num_classes": 10}
    )
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="truncated|not a PyTorch checkpoint"):
        load_checkpoint(path)


def test_text_file_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("hello")
    with pytest.raises(ModelFileError, match="not a PyTorch checkpoint"):
        load_checkpoint(path)


def test_plain_torch_file_without_our_format_is_refused(tmp_path):
    path = tmp_path / "sd.pt"
    torch.save(create_model("test_resnet").state_dict(), path)
    with pytest.raises(ModelFileError, match="not an edgeres checkpoint"):
        load_checkpoint(path)


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {_Evil.marker}",))


def test_pickle_that_would_run_code_is_refused_and_does_not_run(tmp_path):
    marker = tmp_path / "pwned"
    _Evil.marker = marker
    path = tmp_path / "evil.pt"
    torch.save({"format": "edgeres-checkpoint", "payload": _Evil()}, path)
    assert zipfile.is_zipfile(path)
    with pytest.raises(ModelFileError, match="would import or run code"):
        load_checkpoint(path)
    assert not marker.exists(), "the malicious pickle ran"
    # Sanity: the same file really does run code under an unrestricted load.
    with zipfile.ZipFile(path) as zf:
        name = next(n for n in zf.namelist() if n.endswith("data.pkl"))
        assert b"system" in zf.read(name)


def test_weights_of_another_architecture_are_refused(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", create_model("resnet8"), _info(), {"num_classes": 10})
    payload = torch.load(path, weights_only=True)
    payload["model_name"] = "test_resnet"
    torch.save(payload, path)
    with pytest.raises(ModelFileError, match="do not fit model 'test_resnet'"):
        load_checkpoint(path)
