import subprocess
import sys

import pytest
import torch

from edgeres.errors import UsageError
from edgeres.models import (
    MODEL_NAMES,
    count_macs,
    count_params,
    create_model,
    list_models,
    model_config,
)


def test_registry_lists_every_model():
    assert {"resnet8", "resnet20", "resnet18s", "test_resnet"} <= set(list_models())


def test_torch_free_name_list_matches_the_registry():
    assert sorted(MODEL_NAMES) == list_models()


def test_the_package_imports_torch_only_when_a_model_is_needed():
    code = (
        "import sys; import edgeres.models as m; names = m.MODEL_NAMES\n"
        "a = 'torch' in sys.modules; m.create_model('test_resnet')\n"
        "print(a, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["False", "True"], out.stderr


def test_resnet8_matches_mlperf_tiny_counts():
    m = create_model("resnet8")
    # MLPerf Tiny's ResNet-8: about 78k parameters and 12.5M MACs at 32x32.
    assert 77_000 <= count_params(m) <= 79_000
    assert 12_400_000 <= count_macs(m, (1, 3, 32, 32)) <= 12_600_000


def test_resnet20_parameter_count():
    assert 0.26e6 <= count_params(create_model("resnet20")) <= 0.28e6


def test_resnet18s_width_scales_the_network():
    full = count_params(create_model("resnet18s"))
    half = count_params(create_model("resnet18s", width=0.5))
    assert 11.0e6 <= full <= 11.3e6  # ResNet-18 body with a 10-class head
    assert 0.2 < half / full < 0.3  # parameters scale with width squared


@pytest.mark.parametrize("name", ["resnet8", "resnet20", "resnet18s", "test_resnet"])
def test_output_shape_and_feature_split(name):
    size = model_config(name).img_size
    m = create_model(name, num_classes=7).eval()
    x = torch.randn(2, 3, size, size)
    out = m(x)
    assert out.shape == (2, 7)
    torch.testing.assert_close(m.forward_head(m.forward_features(x)), out)


def test_resnet18s_accepts_sizes_from_96_to_224():
    m = create_model("resnet18s", width=0.25).eval()
    for s in (96, 160, 224):
        assert m(torch.randn(1, 3, s, s)).shape == (1, 10)


def test_unknown_model_lists_close_matches():
    with pytest.raises(UsageError, match=r"unknown model 'resnet9'.*did you mean.*resnet8"):
        create_model("resnet9")


def test_unknown_option_is_a_usage_error():
    with pytest.raises(UsageError, match="does not accept"):
        create_model("resnet8", width=0.5)


def test_macs_are_per_image():
    m = create_model("test_resnet")
    assert count_macs(m, (4, 3, 32, 32)) == count_macs(m, (1, 3, 32, 32))


def test_models_use_only_plain_exportable_ops():
    allowed = (
        torch.nn.Conv2d,
        torch.nn.BatchNorm2d,
        torch.nn.ReLU,
        torch.nn.MaxPool2d,
        torch.nn.AdaptiveAvgPool2d,
        torch.nn.Linear,
        torch.nn.Identity,
        torch.nn.Sequential,
        # MobileNets: each exports to one ONNX/TFLite op (Clip, HardSwish, HardSigmoid)
        torch.nn.ReLU6,
        torch.nn.Hardswish,
        torch.nn.Hardsigmoid,
        torch.nn.Dropout,
    )
    for name in list_models():
        for mod in create_model(name).modules():
            if not list(mod.children()):
                assert isinstance(mod, allowed), f"{name}: {type(mod).__name__}"
