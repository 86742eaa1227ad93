"""fit's search space comes from the model registry, and its options are checked up front."""

import pytest
from click.testing import CliRunner

from edgeres.cli import main
from edgeres.errors import UsageError
from edgeres.fit.config import FitConfig
from edgeres.fit.space import WIDTHS, candidates, default_families, family_options
from edgeres.models import list_models


def test_every_registered_family_but_test_networks_is_searched():
    families = default_families()
    assert "test_resnet" not in families
    assert set(families) == set(list_models()) - {"test_resnet"}


def test_options_come_from_the_constructor_and_sizes_from_the_model_config():
    assert family_options("resnet18s") == (("width", WIDTHS),)  # resnet18s(width=...)
    assert family_options("resnet8") == ()
    keys = {c.key for c in candidates(("resnet18s",))}
    assert "resnet18s,width=0.25,size=64" in keys and "resnet18s,width=1,size=96" in keys
    assert len(keys) == len(WIDTHS) * 3  # 64, 80, 96: min_img_size to img_size
    narrowed = candidates(("resnet18s", "resnet8"), sizes=(32,), widths=(0.5,))
    assert [c.key for c in narrowed] == ["resnet18s,width=0.5,size=32", "resnet8,size=32"]
    with pytest.raises(UsageError, match="unknown family"):
        candidates(("resnet9",))


def test_bad_budgets_are_one_line_errors():
    with pytest.raises(UsageError, match="one budget"):
        FitConfig(out="o")
    with pytest.raises(UsageError, match="one budget"):
        FitConfig(out="o", latency_ms=5, fps=30)
    result = CliRunner().invoke(main, ["fit", "--out", "o", "--latency-ms", "-1"])
    assert result.exit_code == 2 and "--latency-ms" in result.output
    assert FitConfig(out="o", fps=40).budget_ms == 25.0
