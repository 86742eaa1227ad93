"""Every PyTorch source as one loaded network: an edgeres checkpoint, a state dict (``.pth``,
``.pt``, ``.safetensors``) with ``--model``, the user's ``--model pkg.module:function``, or a
``torch.export`` program (``.pt2``).

``convert``, ``quantize``, ``train --init`` and the PyTorch engine all start here, so each kind of
file is read the same way everywhere: weights with ``torch.load(weights_only=True)`` or
safetensors, programs screened by ``program_load``, user code only when ``--model`` names it.
"""

from __future__ import annotations

from pathlib import Path

import torch

from edgeres.errors import ModelFileError, UsageError
from edgeres.formats import format_for_path
from edgeres.formats.checkpoint import Checkpoint, check_model_size, load_checkpoint
from edgeres.formats.source_options import SourceOptions, check_class_count
from edgeres.formats.statedict import head_outputs, load_strict, read_state_dict, stem_width
from edgeres.models import create_model, list_models, model_config
from edgeres.models.mobilenet_layout import adapt_state, guess_mobilenet
from edgeres.models.registry import check_input_size
from edgeres.models.user import build_user_model, is_user_ref
from edgeres.spec import ModelInfo
from edgeres.text import shown

WIDTH_MODELS = ("resnet18", "resnet34", "resnet50")


def load_torch_source(path: str | Path, opts: SourceOptions | None = None) -> Checkpoint:
    """Load any PyTorch source file as a ``Checkpoint`` (network in eval mode, its info).

    Raises:
        ModelFileError: Unreadable, unsafe, or weights that do not fit ``--model``.
        UsageError: A state dict without ``--model``, a free input size without ``--img-size``,
            ``--labels`` of the wrong count.
    """
    path = Path(path)
    opts = opts or SourceOptions()
    fmt = format_for_path(path)
    if fmt.name == "pt2":
        return _from_program(path, opts)
    if opts.model is None:
        if fmt.name != "pytorch":
            raise UsageError(_needs_model(path))
        ckpt = load_checkpoint(path)
        ckpt.info = opts.applied(ckpt.info)
        return ckpt
    return _from_state_dict(path, opts)


def _needs_model(path: Path) -> str:
    return (
        f"'{shown(path)}' is a state dict (weights only); name its architecture with --model "
        f"({', '.join(WIDTH_MODELS)}, another zoo model, or pkg.module:function)"
    )


def _build(path: Path, name: str, state: dict) -> tuple[torch.nn.Module, dict, dict]:
    if is_user_ref(name):
        return build_user_model(name), {}, state
    if name not in list_models():
        from edgeres.errors import unknown_name

        raise unknown_name("model", name, list_models())
    state, args = adapt_state(name, state)  # MobileNets: timm's names, the file's width
    if not args:
        args = {"num_classes": head_outputs(state, model_config(name).head) or 1000}
        width = stem_width(state)
        if name in WIDTH_MODELS and width is not None and width != 1.0:
            args["width"] = width
    check_model_size(path, name, args)
    return create_model(name, **args), args, state


def _load(model: torch.nn.Module, state: dict, path: Path, name: str) -> None:
    """``load_strict``, saying which zoo model the file looks like when it does not fit."""
    try:
        load_strict(model, state, path, name)
    except ModelFileError as e:
        guess = guess_mobilenet(state)
        if guess is None or guess == name:
            raise
        raise ModelFileError(f"{e}; it looks like {guess}: pass --model {guess}") from None


def _from_state_dict(path: Path, opts: SourceOptions) -> Checkpoint:
    state = read_state_dict(path)
    model, args, state = _build(path, opts.model, state)
    _load(model, state, path, opts.model)
    model.eval()
    zoo = not is_user_ref(opts.model)
    size = opts.img_size or (model_config(opts.model).img_size if zoo else None)
    if size is None:
        raise UsageError(f"--model {shown(opts.model)} needs --img-size (and --mean/--std)")
    if zoo:
        check_input_size(opts.model, size)
    mcfg = model_config(opts.model) if zoo else None
    spec = opts.spec(size, size, mcfg.mean if mcfg else None, mcfg.std if mcfg else None)
    outputs = _outputs(model, spec.shape(1), path)
    info = ModelInfo(
        name=opts.model if zoo else path.stem,
        classes=opts.class_names(outputs),
        spec=spec,
        extra={"source_kind": "state dict", "architecture": opts.model},
    )
    return Checkpoint(model=model, info=info, model_name=opts.model, model_args=args)


def _outputs(model: torch.nn.Module, shape: tuple[int, ...], path: Path) -> int:
    try:
        with torch.no_grad():
            out = model(torch.zeros(shape))
    except (Exception, SystemExit) as e:  # noqa: BLE001 - the user's network may raise anything
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        raise ModelFileError(
            f"'{shown(path)}' does not run on a {'x'.join(map(str, shape))} input ({first})"
        ) from None
    if not isinstance(out, torch.Tensor) or out.ndim != 2:
        raise ModelFileError(
            f"'{shown(path)}' does not return one N x classes tensor; edgeres takes classifiers"
        )
    return int(out.shape[1])


def _program_size(path: Path, shape: list, opts: SourceOptions) -> tuple[int, int]:
    if len(shape) != 4 or shape[1] != 3:
        raise ModelFileError(
            f"'{shown(path)}' takes a {shape} input; edgeres reads programs of N x 3 x H x W images"
        )
    if shape[0] not in (None, 1):
        raise ModelFileError(
            f"'{shown(path)}' was exported at batch {shape[0]}; export it with a batch of 1 "
            "(or a dynamic batch)"
        )
    h, w = shape[2], shape[3]
    if h is None or w is None:
        if opts.img_size is None:
            raise UsageError(
                f"'{shown(path)}' has a free (dynamic) image size; pass --img-size to fix it"
            )
        return opts.img_size, opts.img_size
    if opts.img_size is not None and (h, w) != (opts.img_size, opts.img_size):
        raise UsageError(f"--img-size {opts.img_size} does not match the program's {h}x{w} input")
    return h, w


def _from_program(path: Path, opts: SourceOptions) -> Checkpoint:
    from edgeres.formats.program_load import (
        ProgramModule,
        declared_outputs,
        input_shape,
        read_program,
    )

    program = read_program(path)
    try:
        shape = input_shape(program)
    except UsageError as e:
        raise ModelFileError(f"'{shown(path)}': {e}") from None
    h, w = _program_size(path, shape, opts)
    declared = declared_outputs(program)
    if declared is not None:  # refused from the graph, before running it allocates the output
        check_class_count(declared)
    model = ProgramModule(program, shape[0])
    spec = opts.spec(h, w)
    outputs = _outputs(model, spec.shape(1), path)
    dynamic = [d for d, v in zip(("batch", "", "height", "width"), shape, strict=True) if v is None]
    extra = {"source_kind": "torch.export program", "dynamic": dynamic}
    info = ModelInfo(path.stem, opts.class_names(outputs), spec, extra=extra)
    return Checkpoint(model=model, info=info, model_name="program", model_args={})
