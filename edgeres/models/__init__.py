"""The model zoo: small residual networks created by name.

Importing this package imports torch; device-side code never does.
"""

from edgeres.models import resnet as _resnet  # noqa: F401  (registers the models)
from edgeres.models.counting import count_macs, count_params
from edgeres.models.registry import ModelConfig, create_model, list_models, model_config

__all__ = [
    "ModelConfig",
    "count_macs",
    "count_params",
    "create_model",
    "list_models",
    "model_config",
]
