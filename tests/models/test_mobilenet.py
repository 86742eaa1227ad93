"""MobileNetV2/V3 in the zoo: torchvision's shapes and names, timm's files translated, widths,
input sizes, and the errors a wrong file or option gets."""

from __future__ import annotations

import pytest
import torch
from mobilenet_layouts import layouts, random_state

from edgeres.errors import ModelFileError, UsageError
from edgeres.formats.source_options import SourceOptions
from edgeres.formats.torch_source import load_torch_source
from edgeres.models import count_macs, create_model, list_models, model_config

MOBILENETS = ("mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large")


@pytest.mark.slow
def test_full_width_mobilenets_have_torchvision_parameter_counts():
    counts = {n: sum(p.numel() for p in create_model(n, 1000).parameters()) for n in MOBILENETS}
    assert counts == {
        "mobilenet_v2": 3_504_872,
        "mobilenet_v3_small": 2_542_856,
        "mobilenet_v3_large": 5_483_032,
    }
    # torchvision's documented GFLOPS (multiply-adds) at 224 px: 0.30, 0.06, 0.22
    macs = [count_macs(create_model(n, 1000), (1, 3, 224, 224)) / 1e9 for n in MOBILENETS]
    assert [round(m, 2) for m in macs] == [0.30, 0.06, 0.22]


@pytest.mark.slow
@pytest.mark.parametrize("name", MOBILENETS)
def test_torchvision_and_timm_layouts_load_strictly(name, tmp_path):
    from safetensors.torch import save_file

    tv_shapes, timm_shapes = layouts(name, classes=7)
    assert {k: tuple(v.shape) for k, v in create_model(name, 7).state_dict().items()} == tv_shapes
    tv, timm = random_state(tv_shapes), random_state(timm_shapes, seed=1)
    torch.save(tv, tmp_path / "tv.pth")
    save_file(timm, str(tmp_path / "timm.safetensors"))
    for file, state in (("tv.pth", tv), ("timm.safetensors", timm)):
        ckpt = load_torch_source(tmp_path / file, SourceOptions(model=name, img_size=64))
        assert ckpt.model_args == {"num_classes": 7}
        got = ckpt.model.state_dict()
        if file == "tv.pth":  # torchvision's names are the zoo's: every tensor where it was
            assert all(torch.equal(got[k], v) for k, v in state.items())
    # the translation put timm's tensors where torchvision has them
    head = "classifier.3.weight" if "v3" in name else "classifier.1.weight"
    assert torch.equal(got[head], timm["classifier.weight"])
    assert torch.equal(got["features.0.0.weight"], timm["conv_stem.weight"])
    last_dw = [k for k in timm if k.endswith("conv_dw.weight")][-1]
    assert any(torch.equal(v, timm[last_dw]) for k, v in got.items() if k.endswith("weight"))


def test_a_narrow_timm_file_gets_its_width_read_off_its_tensors(tmp_path):
    model = create_model("mobilenet_v3_small", 5, width=0.75)
    from edgeres.models.mobilenet_layout import timm_names

    names = timm_names(model, "mobilenet_v3_small")
    timm = {}
    for k, v in model.state_dict().items():
        module, leaf = k.rsplit(".", 1)
        flat = names[module] == "conv_head" and leaf == "weight"
        timm[f"{names[module]}.{leaf}"] = v[..., None, None] if flat else v
    torch.save(timm, tmp_path / "w.pth")
    ckpt = load_torch_source(tmp_path / "w.pth", SourceOptions(model="mobilenet_v3_small"))
    assert ckpt.model_args == {"num_classes": 5, "width": 0.75}
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ckpt.model(x), model.eval()(x))


def test_an_old_file_without_batchnorm_counters_loads(tmp_path):
    tv, _ = layouts("mobilenet_v2", classes=3)
    state = {k: v for k, v in random_state(tv).items() if not k.endswith("num_batches_tracked")}
    torch.save(state, tmp_path / "mobilenet_v2-old.pth")
    ckpt = load_torch_source(tmp_path / "mobilenet_v2-old.pth", SourceOptions(model="mobilenet_v2"))
    assert ckpt.model_args == {"num_classes": 3}


def test_a_mobilenet_file_given_to_the_wrong_model_names_the_right_one(tmp_path):
    tv, _ = layouts("mobilenet_v2")
    torch.save(random_state(tv), tmp_path / "w.pth")
    for wrong in ("mobilenet_v3_large", "resnet18"):
        with pytest.raises(ModelFileError) as e:
            load_torch_source(tmp_path / "w.pth", SourceOptions(model=wrong))
        msg = str(e.value)
        assert f"does not fit model {wrong}: missing" in msg and "; unexpected features." in msg
        assert msg.endswith("it looks like mobilenet_v2: pass --model mobilenet_v2"), msg


def test_widths_round_to_multiples_of_8_and_zero_channels_are_refused():
    m = create_model("mobilenet_v2", 10, width=0.35)
    assert all(c.out_channels % 8 == 0 for c in m.modules() if isinstance(c, torch.nn.Conv2d))
    with pytest.raises(UsageError, match=r"--width 0.2 rounds mobilenet_v2's 16-channel layers "
                       r"to 0 channels .* smallest width is 0.25"):  # fmt: skip
        create_model("mobilenet_v2", 10, width=0.2)
    assert model_config("mobilenet_v2").min_width == 0.25
    create_model("mobilenet_v3_small", 10, width=0.25)


def test_input_sizes_below_the_stride_pattern_are_refused(tmp_path):
    from edgeres.models.registry import check_input_size

    with pytest.raises(UsageError, match=r"--img-size 24 .* downsamples 32x; the smallest size "
                       r"that works is 32"):  # fmt: skip
        check_input_size("mobilenet_v2", 24)
    check_input_size("mobilenet_v2_cifar", 24)
    check_input_size("resnet8", 4)  # ResNets keep their behaviour
    m = create_model("mobilenet_v2_cifar", 10, width=0.25).eval()
    assert m.forward_features(torch.zeros(1, 3, 32, 32)).shape[-1] == 4  # 8x, not 32x
    tv, _ = layouts("mobilenet_v2", classes=10)
    assert {
        k: tuple(v.shape) for k, v in create_model("mobilenet_v2_cifar").state_dict().items()
    } == tv


def test_the_registry_describes_family_width_and_depth_of_every_model():
    families = {n: (model_config(n).family, model_config(n).depth) for n in list_models()}
    assert families["mobilenet_v2"] == ("mobilenet_v2", 17)
    assert families["mobilenet_v3_large"] == ("mobilenet_v3", 15)
    assert families["resnet18s"] == ("resnet", 18)
    for name in list_models():
        cfg = model_config(name)
        if cfg.width:
            create_model(name, 10, width=max(cfg.min_width, 0.25))
        else:
            with pytest.raises(UsageError):
                create_model(name, 10, width=0.5)
        assert name in list_models() and cfg.depth > 0


@pytest.mark.slow
def test_train_init_from_a_timm_file_with_another_head_replaces_it(tmp_path):
    from edgeres.models.mobilenet_layout import timm_names
    from edgeres.train import TrainConfig, train

    torch.manual_seed(0)
    model = create_model("mobilenet_v2_cifar", 7, width=0.25)
    names = timm_names(model, "mobilenet_v2_cifar")
    timm = {
        f"{names[k.rsplit('.', 1)[0]]}.{k.rsplit('.', 1)[1]}": v
        for k, v in model.state_dict().items()
    }
    torch.save(timm, tmp_path / "mobilenetv2_025.pth")
    plans = []
    cfg = TrainConfig(model="mobilenet_v2_cifar", data="shapes", out=tmp_path / "run", epochs=1,
                      init=tmp_path / "mobilenetv2_025.pth", img_size=32, limit=64, eval_limit=32,
                      batch_size=32, threads=1, quiet=True)  # fmt: skip
    result = train(cfg, on_plan=plans.append)
    plan = "\n".join(plans)
    assert "new mobilenet_v2_cifar classifier head (the checkpoint has 7 other classes)" in plan
    assert sum("classifier head" in line for line in plan.splitlines()) == 1
    assert result.checkpoint.is_file()
