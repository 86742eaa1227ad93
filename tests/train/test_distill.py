"""train --teacher: the student learns the teacher's answers, and a teacher that cannot teach
this student (other classes, other input size) is refused in one line."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from edgeres.errors import UsageError
from edgeres.spec import InputSpec
from edgeres.train import TrainConfig, train
from edgeres.train.checkpoint import load_checkpoint, save_checkpoint
from edgeres.train.distill import Teacher, distillation_loss, load_teacher

FAVOURITE = 3


def _biased_teacher(tiny_ckpt, path):
    """The tiny network with its head replaced: it answers class 3 for every image."""
    ckpt = load_checkpoint(tiny_ckpt)
    with torch.no_grad():
        ckpt.model.fc.weight.zero_()
        ckpt.model.fc.bias.zero_()
        ckpt.model.fc.bias[FAVOURITE] = 8.0
    return save_checkpoint(path, ckpt.model, ckpt.info, ckpt.model_args, {})


def _share_of_favourite(run_dir, tiny_ckpt) -> float:
    student = load_checkpoint(run_dir / "model.pt").model
    x = torch.randn(64, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return float((student(x).argmax(1) == FAVOURITE).float().mean())


@pytest.mark.slow
def test_distillation_pulls_the_student_to_the_teacher(tiny_ckpt, tmp_path):
    teacher = _biased_teacher(tiny_ckpt, tmp_path / "teacher.pt")
    base = TrainConfig(
        model="test_resnet", data="shapes", epochs=1, batch_size=32, lr=0.05, limit=320,
        eval_limit=50, threads=1, quiet=True, augment="none", out=tmp_path / "plain",
    )  # fmt: skip
    train(base)
    metrics = train(replace(base, out=tmp_path / "kd", teacher=teacher, distill_weight=1.0)).metrics
    assert metrics["teacher"] == str(teacher)
    # The labels spread answers over 10 classes; the teacher says 3 to everything.
    assert _share_of_favourite(tmp_path / "plain", tiny_ckpt) < 0.5
    assert _share_of_favourite(tmp_path / "kd", tiny_ckpt) > 0.9


def test_loss_is_zero_on_the_teachers_own_logits_and_grows_away_from_them():
    t = torch.randn(8, 5)
    y = t.argmax(1)
    assert distillation_loss(t, t, y, weight=1.0) < 1e-6
    far = distillation_loss(-t, t, y, weight=1.0)
    assert far > 0.1
    hard_only = distillation_loss(-t, t, y, weight=0.0)
    assert torch.isclose(hard_only, torch.nn.functional.cross_entropy(-t, y))


def test_teacher_of_another_normalisation_sees_its_own_pixels():
    pixels = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    s_spec = InputSpec(32, 32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    t_spec = InputSpec(32, 32, channel_order="BGR")
    seen = []

    class Spy(torch.nn.Module):
        def forward(self, x):
            seen.append(x)
            return x.mean((2, 3))

    Teacher(Spy(), s_spec, t_spec)(torch.from_numpy(s_spec.preprocess(pixels)))
    expected = torch.from_numpy(t_spec.preprocess(pixels))
    assert torch.allclose(seen[0], expected, atol=1e-5)


def test_teacher_with_other_classes_or_size_is_refused(tiny_ckpt):
    ckpt = load_checkpoint(tiny_ckpt)
    classes, spec = tuple(ckpt.info.classes), ckpt.info.spec
    assert load_teacher(tiny_ckpt, classes, spec) is not None
    with pytest.raises(UsageError, match="10 classes and the data 5"):
        load_teacher(tiny_ckpt, classes[:5], spec)
    with pytest.raises(UsageError, match="same names"):
        load_teacher(tiny_ckpt, classes[::-1], spec)
    with pytest.raises(UsageError, match="takes 32x32 inputs and the student 40x40"):
        load_teacher(tiny_ckpt, classes, InputSpec(40, 40))
