"""torchvision's and timm's MobileNet state-dict layouts, written from their published block
definitions (timm's arch strings, torchvision's module nesting) independently of edgeres' models:
random tensors with the real names and shapes, for strict-load tests."""

from __future__ import annotations

import torch

# timm's arch_def (timm/models/_efficientnet_builder.py notation), width 1.0.
ARCH = {
    "mobilenet_v2": (32, [["ds_r1_k3_s1_c16"], ["ir_r2_k3_s2_e6_c24"], ["ir_r3_k3_s2_e6_c32"],
                          ["ir_r4_k3_s2_e6_c64"], ["ir_r3_k3_s1_e6_c96"], ["ir_r3_k3_s2_e6_c160"],
                          ["ir_r1_k3_s1_e6_c320"]], 1280),
    "mobilenet_v3_small": (16, [["ds_r1_k3_s2_e1_c16_se0.25"], ["ir_r1_k3_s2_e4.5_c24",
                                "ir_r1_k3_s1_e3.67_c24"], ["ir_r1_k5_s2_e4_c40_se0.25",
                                "ir_r2_k5_s1_e6_c40_se0.25"], ["ir_r2_k5_s1_e3_c48_se0.25"],
                                ["ir_r3_k5_s2_e6_c96_se0.25"], ["cn_r1_k1_s1_c576"]], 1024),
    "mobilenet_v3_large": (16, [["ds_r1_k3_s1_e1_c16"], ["ir_r1_k3_s2_e4_c24",
                                "ir_r1_k3_s1_e3_c24"], ["ir_r3_k5_s2_e3_c40_se0.25"],
                                ["ir_r1_k3_s2_e6_c80", "ir_r1_k3_s1_e2.5_c80",
                                 "ir_r2_k3_s1_e2.3_c80"], ["ir_r2_k3_s1_e6_c112_se0.25"],
                                ["ir_r3_k5_s2_e6_c160_se0.25"], ["cn_r1_k1_s1_c960"]], 1280),
}  # fmt: skip


def _div8(v: float) -> int:
    new = max(8, int(v + 4) // 8 * 8)
    return new + 8 if new < 0.9 * v else new


def _parse(arch: str) -> dict:
    parts = arch.split("_")
    opts = {p[0]: p[1:] for p in parts[1:] if p[0] in "rkec"}
    return {
        "kind": parts[0],
        "repeat": int(opts["r"]),
        "k": int(opts["k"]),
        "e": float(opts.get("e", 1)),
        "c": int(opts["c"]),
        "se": any(p.startswith("se") for p in parts),
    }


def _bn(prefix: str, c: int) -> dict:
    keys = ("weight", "bias", "running_mean", "running_var")
    out = {f"{prefix}.{k}": (c,) for k in keys}
    out[f"{prefix}.num_batches_tracked"] = ()
    return out


def _block(b: dict, cin: int, v3: bool) -> list[tuple[str, str, dict]]:
    """(torchvision-part, timm-part, shapes) of one block, in order."""
    cout, k = b["c"], b["k"]
    if b["kind"] == "cn":
        return [("0", "conv", {"weight": (cout, cin, 1, 1)}), ("1", "bn1", "bn")]
    mid = cin if b["kind"] == "ds" else _div8(cin * b["e"])
    parts = []
    if b["kind"] == "ir":
        parts += [("pw", "conv_pw", (mid, cin, 1, 1)), ("pwbn", "bn1", mid)]
    dwbn = "bn1" if b["kind"] == "ds" else "bn2"
    parts += [("dw", "conv_dw", (mid, 1, k, k)), ("dwbn", dwbn, mid)]
    if b["se"]:
        rd = _div8(mid * 0.25)
        parts += [("se", "se", (mid, rd))]
    pwl = "conv_pw" if b["kind"] == "ds" else "conv_pwl"
    parts += [
        ("pwl", pwl, (cout, mid, 1, 1)),
        ("pwlbn", "bn2" if b["kind"] == "ds" else "bn3", cout),
    ]
    return parts


def _tv_names(parts: list, v3: bool) -> list[str]:
    """torchvision's module names of a block's parts (Conv2dNormActivation children 0/1)."""
    root = "block" if v3 else "conv"
    names, i = [], 0
    kinds = [p[0] for p in parts]
    for kind in kinds:
        if kind in ("pw", "dw"):
            names.append(f"{root}.{i}.0")
        elif kind in ("pwbn", "dwbn"):
            names.append(f"{root}.{i}.1")
            i += 1
        elif kind == "se":
            names.append(f"{root}.{i}")
            i += 1
        elif kind == "pwl":
            names.append(f"{root}.{i}.0" if v3 else f"{root}.{i}")
        else:  # pwlbn
            names.append(f"{root}.{i}.1" if v3 else f"{root}.{i + 1}")
    return names


def layouts(name: str, classes: int = 1000) -> tuple[dict, dict]:
    """(torchvision shapes by key, timm shapes by key) of ``name`` at width 1.0."""
    stem, stages, head = ARCH[name]
    v3 = name.startswith("mobilenet_v3")
    tv: dict[str, tuple] = {"features.0.0.weight": (stem, 3, 3, 3), **_bn("features.0.1", stem)}
    timm: dict[str, tuple] = {"conv_stem.weight": (stem, 3, 3, 3), **_bn("bn1", stem)}
    cin, n = stem, 1
    for s, stage in enumerate(stages):
        j = 0
        for arch in stage:
            b = _parse(arch)
            for _ in range(b["repeat"]):
                parts = _block(b, cin, v3)
                if b["kind"] == "cn":
                    tv[f"features.{n}.0.weight"] = (b["c"], cin, 1, 1)
                    tv.update(_bn(f"features.{n}.1", b["c"]))
                    timm[f"blocks.{s}.{j}.conv.weight"] = (b["c"], cin, 1, 1)
                    timm.update(_bn(f"blocks.{s}.{j}.bn1", b["c"]))
                else:
                    for (kind, tname, shape), tvname in zip(
                        parts, _tv_names(parts, v3), strict=True
                    ):
                        _put(
                            tv,
                            f"features.{n}.{tvname}",
                            timm,
                            f"blocks.{s}.{j}.{tname}",
                            kind,
                            shape,
                        )
                cin, n, j = b["c"], n + 1, j + 1
    if v3:
        tv["classifier.0.weight"], tv["classifier.0.bias"] = (head, cin), (head,)
        timm["conv_head.weight"], timm["conv_head.bias"] = (head, cin, 1, 1), (head,)
        tv["classifier.3.weight"], tv["classifier.3.bias"] = (classes, head), (classes,)
    else:
        tv[f"features.{n}.0.weight"] = timm["conv_head.weight"] = (head, cin, 1, 1)
        tv.update(_bn(f"features.{n}.1", head))
        timm.update(_bn("bn2", head))
        tv["classifier.1.weight"], tv["classifier.1.bias"] = (classes, head), (classes,)
    timm["classifier.weight"], timm["classifier.bias"] = (classes, head), (classes,)
    return tv, timm


def _put(tv: dict, tvname: str, timm: dict, tname: str, kind: str, shape) -> None:
    if kind.endswith("bn"):
        tv.update(_bn(tvname, shape))
        timm.update(_bn(tname, shape))
    elif kind == "se":
        mid, rd = shape
        for a, b, w in (
            ("fc1", "conv_reduce", (rd, mid, 1, 1)),
            ("fc2", "conv_expand", (mid, rd, 1, 1)),
        ):
            tv[f"{tvname}.{a}.weight"], tv[f"{tvname}.{a}.bias"] = w, (w[0],)
            timm[f"{tname}.{b}.weight"], timm[f"{tname}.{b}.bias"] = w, (w[0],)
    else:
        tv[f"{tvname}.weight"] = timm[f"{tname}.weight"] = shape


def random_state(shapes: dict, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors of ``shapes`` (positive variances; integer batch counters)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, s in shapes.items():
        if k.endswith("num_batches_tracked"):
            out[k] = torch.tensor(100)
        elif k.endswith("running_var"):
            out[k] = torch.rand(s, generator=g) + 0.5
        else:
            out[k] = torch.randn(s, generator=g) * 0.1
    return out
