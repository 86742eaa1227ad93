"""``--epochs auto``: the schedule chosen from the data set's size (a pure function, no training)."""

from __future__ import annotations

import pytest

from edgeres.errors import UsageError
from edgeres.train.config import TrainConfig
from edgeres.train.schedule import (
    MAX_EPOCHS,
    MIN_EPOCHS,
    MIN_STEPS,
    QAT_MAX_EPOCHS,
    plan_schedule,
)


def test_small_folder_trains_at_least_min_steps():
    plan = plan_schedule(1366, 10, 128, "auto")
    assert plan.steps_per_epoch == 10
    assert plan.total_steps >= MIN_STEPS and plan.epochs == 150
    assert plan.auto


def test_large_set_keeps_the_minimum_epochs():
    plan = plan_schedule(47500, 10, 128, "auto")
    assert plan.epochs == MIN_EPOCHS
    assert plan.total_steps == 371 * MIN_EPOCHS  # no more than a fixed 15 epochs gave


def test_tiny_folder_is_capped():
    plan = plan_schedule(60, 3, 128, "auto")
    assert plan.steps_per_epoch == 1 and plan.epochs == MAX_EPOCHS


def test_epochs_as_asked_are_kept():
    plan = plan_schedule(1366, 10, 128, 7)
    assert plan.epochs == 7 and not plan.auto


def test_qat_schedule_is_short():
    plan = plan_schedule(1366, 10, 128, "auto", qat=True)
    assert plan.epochs == 30 == QAT_MAX_EPOCHS
    assert plan_schedule(50000, 10, 128, "auto", qat=True).epochs == 2


def test_world_size_splits_the_steps():
    assert plan_schedule(1280, 10, 128, 1, world_size=2).steps_per_epoch == 10  # 64 a process


def test_plan_text_names_sizes_and_time():
    text = plan_schedule(1437, 10, 128, "auto").describe(0.1)
    assert text.startswith("1,437 images, 10 classes: 137 epochs (chosen from the size)")
    assert "steps of 128" in text and "estimated" in text and "min" in text


@pytest.mark.parametrize("value", ["0", "-3", "many", "2.5"])
def test_bad_epochs_name_the_flag(value, tmp_path):
    with pytest.raises(UsageError, match="--epochs must be auto or a whole number"):
        TrainConfig(epochs=value, out=tmp_path)


def test_epochs_from_the_command_line():
    assert TrainConfig(epochs="60").epochs == 60
    assert TrainConfig(epochs="AUTO").epochs == "auto"
