"""``edgeres doctor``: what is installed and what works here, each problem with the line that fixes it.

Every probe is cheap and bounded: engines are imported (not run), cameras are only the
``/dev/video*`` nodes that exist, each opened in a thread with a timeout.
"""

from __future__ import annotations

import glob
import importlib
import importlib.metadata
import os
import threading
from dataclasses import asdict, dataclass

from edgeres.bench.environment import library_versions
from edgeres.profiles import load_profile, match_host
from edgeres.profiles.facts import this_machine

OK, MISSING, PROBLEM, INFO = "ok", "missing", "problem", "info"


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report.

    Attributes:
        area: ``runtime``, ``cpu``, ``profile``, ``camera``, ``display``, ``version``.
        name: What was checked.
        status: ``ok``, ``missing`` (optional and absent), ``problem`` or ``info``.
        detail: What was found.
        fix: The command or step that fixes a problem (``None`` when nothing to fix).
    """

    area: str
    name: str
    status: str
    detail: str
    fix: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _import(module: str) -> tuple[object | None, str]:
    try:
        return importlib.import_module(module), ""
    except Exception as e:  # a broken wheel raises more than ImportError (numpy ABI errors)
        return (
            None,
            f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}",
        )


def runtime_checks() -> list[Check]:
    """Which engines import, and ONNX Runtime's providers."""
    out = []
    ort, err = _import("onnxruntime")
    if ort is None:
        out.append(Check("runtime", "onnxruntime", PROBLEM, err, "pip install onnxruntime"))
    else:
        providers = ort.get_available_providers()
        out.append(
            Check(
                "runtime",
                "onnxruntime",
                OK,
                f"{ort.__version__}; providers: {', '.join(providers)}",
            )
        )
    litert, err = _import("ai_edge_litert.interpreter")
    if litert is None:
        out.append(Check("runtime", "ai-edge-litert", PROBLEM, err, "pip install ai-edge-litert"))
    else:
        out.append(Check("runtime", "ai-edge-litert", OK, _version("ai-edge-litert")))
    legacy, err = _import("tflite_runtime.interpreter")
    if legacy is not None:
        out.append(
            Check("runtime", "tflite-runtime", OK, _version("tflite-runtime") + " (fallback)")
        )
    elif _version("tflite-runtime") != "not installed":
        fix = "pip uninstall tflite-runtime (ai-edge-litert replaces it; it needs numpy<2)"
        out.append(Check("runtime", "tflite-runtime", PROBLEM, err, fix))
    else:
        out.append(
            Check(
                "runtime",
                "tflite-runtime",
                MISSING,
                "not installed (optional fallback for numpy<2 images)",
            )
        )
    out.append(_openvino_check())
    out.append(_torch_check())
    return out


def _openvino_check() -> Check:
    """OpenVINO is an extra (about 180 MB): recommended where it pays, an x86 CPU."""
    if _version("openvino") != "not installed":
        ov, err = _import("openvino")
        if ov is None:
            return Check(
                "runtime", "openvino", PROBLEM, err, "pip install --force-reinstall openvino"
            )
        return Check(
            "runtime",
            "openvino",
            OK,
            f"{_version('openvino')}; devices: {', '.join(ov.Core().available_devices)}",
        )
    if this_machine().is_x86:
        return Check(
            "runtime",
            "openvino",
            MISSING,
            "not installed: on x86 it ran edgeres' INT8 .onnx files 2.7x faster than ONNX Runtime "
            "(edgeres tune measures it here)",
            "pip install 'edgeres[openvino]'",
        )
    return Check("runtime", "openvino", MISSING, "not installed (optional engine for .onnx files)")


def _torch_check() -> Check:
    if _version("torch") == "not installed":
        return Check(
            "runtime",
            "torch",
            MISSING,
            "not installed: fine on a device (train/convert/quantize need it)",
            "pip install 'edgeres[train]' torch==2.13.0  # workstation only",
        )
    torch, err = _import("torch")
    if torch is None:
        return Check(
            "runtime", "torch", PROBLEM, err, "pip install --force-reinstall torch==2.13.0"
        )
    return Check("runtime", "torch", OK, torch.__version__)


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


CPU_FEATURES = (
    ("AVX2", ("avx2",)),
    ("AVX-512", ("avx512f",)),
    ("AVX-512 VNNI", ("avx512_vnni",)),
    ("AVX-VNNI", ("avx_vnni",)),
    ("AMX INT8", ("amx_int8",)),
    ("NEON/ASIMD", ("asimd", "neon")),
    ("dot-product (SDOT)", ("asimddp",)),
    ("INT8 matmul (I8MM)", ("i8mm",)),
)


def cpu_checks() -> list[Check]:
    """The CPU features that decide which INT8/FP32 kernels run."""
    f = this_machine()
    found = [name for name, flags in CPU_FEATURES if any(x in f.flags for x in flags)]
    detail = (
        f"{f.cpu_model}, {f.cores} cores, {f.arch}; features: {', '.join(found) or 'none of note'}"
    )
    return [Check("cpu", "cpu", INFO, detail)]


def profile_checks() -> list[Check]:
    """The matching profile, and whether its ONNX providers exist in this onnxruntime."""
    matched = match_host()
    profile = matched or load_profile("host")
    why = (
        "matches this machine"
        if matched
        else "no shipped profile matches; using the computed 'host'"
    )
    out = [Check("profile", profile.name, INFO, why)]
    ort, _ = _import("onnxruntime")
    if ort is not None:
        available = set(ort.get_available_providers())
        lacking = [p for p in profile.providers_for("onnx") if p not in available]
        if lacking:
            fix = "install the onnxruntime build with them (Jetson: NVIDIA's onnxruntime-gpu wheel for your JetPack)"
            out.append(
                Check("profile", "providers", PROBLEM, f"{', '.join(lacking)} not available", fix)
            )
    return out


def _probe_camera(dev: str, timeout: float) -> bool | None:
    import cv2

    result: list[bool] = []

    def probe() -> None:
        cap = cv2.VideoCapture(dev)
        try:
            result.append(bool(cap.isOpened() and cap.read()[0]))
        finally:
            cap.release()

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(timeout)
    return result[0] if result else None


def camera_checks(timeout: float = 3.0) -> list[Check]:
    """Which ``/dev/video*`` nodes OpenCV can open and read a frame from."""
    devs = sorted(glob.glob("/dev/video*"))
    if not devs:
        return [
            Check("camera", "cameras", INFO, "no /dev/video* device; use --source FILE or demo")
        ]
    out = []
    for dev in devs:
        ok = _probe_camera(dev, timeout)
        if ok:
            out.append(Check("camera", dev, OK, "opens and delivers frames"))
        else:
            what = "timed out" if ok is None else "cannot be opened or read"
            out.append(
                Check(
                    "camera", dev, PROBLEM, what, "sudo usermod -aG video $USER (then log in again)"
                )
            )
    return out


def display_checks() -> list[Check]:
    """Whether ``edgeres run --show`` can open a window."""
    cv2, err = _import("cv2")
    if cv2 is None:
        return [Check("display", "opencv", PROBLEM, err, "pip install opencv-python-headless")]
    gui = [
        ln.split(":", 1)[1].strip()
        for ln in cv2.getBuildInformation().splitlines()
        if ln.strip().startswith("GUI:")
    ]
    has_gui = bool(gui) and gui[0].upper() != "NONE"
    has_display = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if has_gui and has_display:
        return [Check("display", "window", OK, f"OpenCV GUI {gui[0]}, display available")]
    if not has_gui:
        fix = "pip uninstall -y opencv-python-headless && pip install opencv-python  # or use --save/--serve"
        return [
            Check(
                "display",
                "window",
                MISSING,
                "OpenCV is a headless build: --show cannot open a window",
                fix,
            )
        ]
    return [
        Check(
            "display",
            "window",
            MISSING,
            "no DISPLAY/WAYLAND_DISPLAY set",
            "export DISPLAY=:0  # or use --save/--serve",
        )
    ]


def run_doctor(cameras: bool = True, peak: bool = False) -> dict:
    """Every check, plus versions; ``problems`` counts the checks that need a fix.

    ``peak`` also measures this machine's attained FP32 and INT8 peak (a few seconds) and keeps it
    for ``benchmark`` and ``tune``, which then give each result as a share of it.
    """
    checks = runtime_checks() + cpu_checks() + profile_checks()
    checks += peak_checks(measure=peak)
    checks += camera_checks() if cameras else []
    checks += display_checks()
    return {
        "versions": library_versions(),
        "checks": [c.to_dict() for c in checks],
        "problems": sum(c.status == PROBLEM for c in checks),
    }


def peak_checks(measure: bool) -> list[Check]:
    """The attained peak: measured now (``--peak``), or what was measured here before."""
    from edgeres.bench.peak import cached_peak, measure_peak, save_peak

    if measure:
        figures = measure_peak()
        save_peak(figures)
    else:
        figures = cached_peak()
    if not figures:
        return [
            Check("cpu", "attained peak", INFO, "not measured here yet", "edgeres doctor --peak")
        ]
    return [Check("cpu", f"{k} peak", INFO, v.line()) for k, v in sorted(figures.items())]


def doctor_text(result: dict) -> str:
    """``run_doctor``'s result as the terminal shows it: versions, the checks, their fixes."""
    from edgeres.bench.tables import text_table

    lines = ["versions: " + ", ".join(f"{k} {v}" for k, v in result["versions"].items())]
    rows = [[c["status"], c["area"], c["name"], c["detail"]] for c in result["checks"]]
    lines.append(text_table(["STATUS", "AREA", "CHECK", "DETAIL"], rows))
    lines += [f"fix {c['name']}: {c['fix']}" for c in result["checks"] if c["fix"]]
    lines.append(f"{result['problems']} problem(s)")
    return "\n".join(lines)
