"""``edgeres doctor``: what is installed and what works here, each problem with the line that fixes it.

Every probe is cheap and bounded: engines are imported (not run), cameras are only the
``/dev/video*`` nodes that exist, each opened in a thread with a timeout.
"""

from __future__ import annotations

import glob
import importlib
import os
import threading
from dataclasses import asdict, dataclass

from edgeres.bench.environment import library_versions
from edgeres.formats import Engine, Probe, all_engines
from edgeres.profiles import Profile, load_profile, match_host
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
    """Every engine in the format table: installed, importing, and what it can use."""
    from edgeres.formats import all_engines

    return [engine_check(e) for e in all_engines()]


def engine_check(engine: Engine) -> Check:
    """One engine's line: its probe's answer, or why it is missing or broken and the fix."""
    from edgeres.formats import resolve

    version = engine.installed_version()
    if version is None and not engine.available:
        detail = f"not installed: {engine.note}" if engine.note else "not installed"
        status = PROBLEM if engine.core else MISSING
        return Check("runtime", engine.name, status, detail, engine.install)
    try:
        found = resolve(engine.probe)(engine) if engine.probe else Probe(version or "installed")
    except Exception as e:  # a broken wheel raises more than ImportError (numpy ABI errors)
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        fix = engine.repair or f"pip install --force-reinstall {engine.distribution}"
        return Check("runtime", engine.name, PROBLEM, f"{type(e).__name__}: {first}", fix)
    return Check("runtime", engine.name, OK, found.detail)


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
    return out + [c for e in all_engines() if (c := _profile_option_check(profile, e))]


def _profile_option_check(profile: Profile, engine: Engine) -> Check | None:
    """Whether the providers/delegates the profile gives an engine exist in its build here."""
    from edgeres.formats import format_engines, resolve

    if not (engine.profile_option and engine.probe and engine.available):
        return None
    asked = dict.fromkeys(
        n for f in format_engines(engine.name) for n in profile.providers_for(f.name, engine.name)
    )
    if not asked:
        return None
    try:
        options = resolve(engine.probe)(engine).options
    except Exception:  # runtime_checks reports the broken engine
        return None
    lacking = [p for p in asked if options is not None and p not in options]
    if not lacking:
        return None
    fix = (
        f"install the {engine.name} build with them (e.g. the {engine.distribution} wheel "
        "your board's vendor publishes)"
    )
    return Check(
        "profile", engine.profile_option, PROBLEM, f"{', '.join(lacking)} not available", fix
    )


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
