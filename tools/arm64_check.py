"""The device install on arm64, for real: a Debian bookworm arm64 root filesystem (Raspberry Pi
OS's base) under qemu-user, the device side of edgeres installed there with pip from aarch64
wheels, and ``predict``/``eval`` of FP32 and INT8 files made here giving the same scores as here.

Usage (root; Debian packages mmdebstrap qemu-user-static binfmt-support arch-test):
    python tools/arm64_check.py [--cache ~/.cache/edgeres-arm64] [--models DIR]

Steps: build the root filesystem with mmdebstrap (cached as a tarball under --cache), register
qemu's aarch64 handler with binfmt_misc (mounting it if needed), copy the host's CA certificates
and pip index settings in (the host's ``PIP_*`` environment stays out: every command runs with
``env -i``), bind a Cortex-A72 ``/proc/cpuinfo`` over qemu's pass-through of the x86 one (ONNX
Runtime segfaults on it), fake ``/sys/firmware/devicetree/base/model`` so edgeres matches its
raspberry-pi-4 profile, run with ``QEMU_CPU=cortex-a72`` (the default ``max`` CPU gives wrong INT8
TFLite results), install edgeres' wheel into a venv there and compare every score.

Emulated timings mean nothing; this checks the install and that the numbers are identical.
About 6.5 min from scratch, under 2 with a cached root filesystem (on a quiet machine; 20 and 6
min on a loaded 2-core one). Exit 1 when a score differs beyond ``TOL`` (FP32: 1e-5; INT8:
5e-3 and 1% of the eval images, see ``TOL``), 2 when the tools are missing.
"""

from __future__ import annotations

import argparse
import configparser
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SUITE, MIRROR = "bookworm", "http://deb.debian.org/debian"
PACKAGES = ("python3", "python3-venv", "python3-pip", "ca-certificates", "libgomp1")
QEMU = Path("/usr/bin/qemu-aarch64-static")
BINFMT = Path("/proc/sys/fs/binfmt_misc")
# The aarch64 ELF header qemu-user registers for (from qemu's scripts/qemu-binfmt-conf.sh).
AARCH64_MAGIC = r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00"
AARCH64_MASK = r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"
CPUINFO_A72 = (
    "".join(
        f"processor\t: {i}\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n"
        "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\n"
        "CPU revision\t: 3\n\n"
        for i in range(4)
    )
    + "Model\t\t: Raspberry Pi 4 Model B Rev 1.4\n"
)
DT_MODEL = "Raspberry Pi 4 Model B Rev 1.4\0"
# Allowed |score difference| and eval difference (share of images) per precision. FP32 agrees to
# the printed digits. INT8 does not, measured here (test_resnet, 1 epoch): ONNX Runtime's x86
# u8s8 kernels and its ARM kernels, and XNNPACK's x86 and ARM requantization, round differently:
# scores differ by up to 2.5e-3 and one image in 200 can flip.
TOL = {"fp32": (1e-5, 0.0), "int8": (5e-3, 0.01)}


def sh(*cmd: str | Path, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], check=True, **kw)


def check_tools() -> None:
    missing = [t for t in ("mmdebstrap", "chroot", "mount") if not shutil.which(t)]
    missing += [] if QEMU.exists() else [str(QEMU)]
    if missing or os.geteuid() != 0:
        sys.exit(
            f"error: needs root and {', '.join(missing) or 'nothing else'}; install with: "
            "apt-get install -y mmdebstrap qemu-user-static binfmt-support arch-test"
        )


def register_binfmt() -> None:
    """qemu's aarch64 handler in binfmt_misc; ``F`` opens qemu now, so it works in the chroot."""
    if not (BINFMT / "register").exists():
        sh("mount", "-t", "binfmt_misc", "binfmt_misc", BINFMT)
    if not (BINFMT / "qemu-aarch64").exists():
        rule = f":qemu-aarch64:M::{AARCH64_MAGIC}:{AARCH64_MASK}:{QEMU}:F"
        (BINFMT / "register").write_text(rule)


def rootfs_tarball(cache: Path) -> Path:
    """The bookworm arm64 root filesystem as a tarball, built once per package list."""
    key = hashlib.sha256(repr((SUITE, MIRROR, PACKAGES)).encode()).hexdigest()[:12]
    tarball = cache / f"rootfs-{SUITE}-arm64-{key}.tar"
    if not tarball.exists():
        cache.mkdir(parents=True, exist_ok=True)
        partial = tarball.with_suffix(".partial.tar")
        print(f"building the arm64 root filesystem ({SUITE}) into {tarball}", flush=True)
        sh(
            "mmdebstrap", "--arch=arm64", "--variant=apt", f"--include={','.join(PACKAGES)}",
            SUITE, partial, MIRROR,
        )  # fmt: skip
        partial.rename(tarball)
    return tarball


def pip_conf() -> str:
    """The host's pip index settings (not its local paths: constraints, find-links)."""
    keep = ("index-url", "extra-index-url", "trusted-host")
    out = configparser.ConfigParser()
    out["global"] = {"cert": "/etc/ssl/certs/ca-certificates.crt"}
    for path in ("/etc/pip.conf", "/etc/xdg/pip/pip.conf", Path.home() / ".config/pip/pip.conf"):
        found = configparser.ConfigParser()
        found.read(path)
        for key in keep:
            if found.has_option("global", key):
                out["global"][key] = found.get("global", key)
    for key in keep:  # the host's pip environment, as pip settings rather than a leak
        if os.environ.get(f"PIP_{key.upper().replace('-', '_')}"):
            out["global"][key] = os.environ[f"PIP_{key.upper().replace('-', '_')}"]
    text = [f"{k} = {v}" for k, v in out["global"].items()]
    return "[global]\n" + "\n".join(text) + "\n"


def prepare(root: Path, tarball: Path) -> None:
    """Unpack the root filesystem and give it the host's CAs, DNS and pip index, the fake
    Cortex-A72 cpuinfo and the Raspberry Pi 4 device-tree model."""
    root.mkdir(parents=True)
    sh("tar", "-xf", tarball, "-C", root)
    shutil.copy("/etc/ssl/certs/ca-certificates.crt", root / "etc/ssl/certs/ca-certificates.crt")
    shutil.copy("/etc/resolv.conf", root / "etc/resolv.conf")
    (root / "etc/pip.conf").write_text(pip_conf())
    (root / "opt/cpuinfo-a72").write_text(CPUINFO_A72)
    model = root / "sys/firmware/devicetree/base/model"
    model.parent.mkdir(parents=True, exist_ok=True)
    model.write_text(DT_MODEL)


@contextlib.contextmanager
def mounted(root: Path, pip_cache: Path):
    """/proc (with the fake cpuinfo over it), /dev and a persistent pip cache inside ``root``."""
    pip_cache.mkdir(parents=True, exist_ok=True)
    (root / "root/.cache/pip").mkdir(parents=True, exist_ok=True)
    mounts = [
        (["-t", "proc", "proc"], root / "proc"),
        (["--bind", root / "opt/cpuinfo-a72"], root / "proc/cpuinfo"),
        (["--bind", "/dev"], root / "dev"),
        (["--bind", pip_cache], root / "root/.cache/pip"),
    ]
    done = []
    try:
        for args, target in mounts:
            sh("mount", *args, target)
            done.append(target)
        yield
    finally:
        for target in reversed(done):
            subprocess.run(["umount", "-l", str(target)], check=False)


def in_arm64(root: Path, *cmd: str, capture: bool = False) -> subprocess.CompletedProcess:
    """Run ``cmd`` in the chroot with a clean environment (no host PIP_*) and the A72 CPU."""
    env = ["HOME=/root", "PATH=/opt/venv/bin:/usr/bin:/bin", "QEMU_CPU=cortex-a72", "LANG=C.UTF-8"]
    full = ["env", "-i", *env, shutil.which("chroot") or "/usr/sbin/chroot", str(root), *cmd]
    return subprocess.run(full, check=True, text=True, capture_output=capture)


def build_wheel(out: Path) -> Path:
    src = out / "src"
    for name in ("edgeres", "devices", "calibration_data"):
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (REPO / name).exists():
            shutil.copy(REPO / name, src / name)
    sh(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
       "-w", out, src)  # fmt: skip
    return next(out.glob("edgeres-*.whl"))


def make_models(out: Path) -> list[Path]:
    """A test_resnet trained for seconds here, as FP32 and INT8 ONNX and TFLite files."""
    from edgeres.convert import convert
    from edgeres.quantize import quantize
    from edgeres.train import TrainConfig, train

    cfg = TrainConfig(model="test_resnet", data="shapes", out=out, epochs=1, limit=1000,
                      eval_limit=100, batch_size=64, threads=1, quiet=True)  # fmt: skip
    ckpt = train(cfg).checkpoint
    convert(ckpt, ("onnx", "tflite"), quiet=True)
    quantize(ckpt, calib="shapes", to=("onnx", "tflite"), samples=32, eval_limit=64, quiet=True)
    names = ("model.onnx", "model.tflite", "model_int8.onnx", "model_int8.tflite")
    return [out / n for n in names]


def scores(run, model: str, images: list[str]) -> dict:
    """Every class score of every image (``predict --topk 1000``) and the eval counts."""
    pred = json.loads(run("predict", model, *images, "--topk", "1000", "--json"))
    ev = json.loads(run("eval", model, "--data", "shapes", "--limit", "200", "--json"))
    per_image = [{t["label"]: t["score"] for t in r["topk"]} for r in pred["results"]]
    return {"scores": per_image, "correct": ev["correct"], "total": ev["total"]}


def compare(name: str, here: dict, there: dict) -> tuple[bool, str]:
    tol, share = TOL["int8" if "int8" in name else "fp32"]
    diff = max(
        abs(a[k] - b[k]) for a, b in zip(here["scores"], there["scores"], strict=True) for k in a
    )
    flips = abs(here["correct"] - there["correct"])
    same = diff <= tol and flips <= share * here["total"] and here["total"] == there["total"]
    counts = f"x86 {here['correct']}/{here['total']}, arm64 {there['correct']}/{there['total']}"
    return same, (
        f"{name}: max score difference {diff:.2e} (allowed {tol:g}); eval {counts} "
        f"(allowed difference {share * here['total']:g})"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cache", type=Path, default=Path("~/.cache/edgeres-arm64").expanduser(),
                   help="Where the root filesystem tarball and pip's cache are kept.")  # fmt: skip
    p.add_argument("--models", type=Path, default=None,
                   help="A folder with model.onnx, model.tflite, model_int8.onnx, "
                        "model_int8.tflite (default: train and export a tiny one here).")  # fmt: skip
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    check_tools()
    register_binfmt()
    tarball = rootfs_tarball(args.cache)
    with tempfile.TemporaryDirectory(prefix="edgeres-arm64-") as tmp:
        tmp = Path(tmp)
        root = tmp / "root"
        prepare(root, tarball)
        work = root / "work"
        work.mkdir()
        models = make_models(tmp / "run") if args.models is None else [
            args.models / n
            for n in ("model.onnx", "model.tflite", "model_int8.onnx", "model_int8.tflite")
        ]  # fmt: skip
        for m in models:
            shutil.copy(m, work / m.name)
        wheel = build_wheel(tmp / "wheel")
        shutil.copy(wheel, work / wheel.name)
        images = write_images(work)
        with mounted(root, args.cache / "pip"):
            print("installing edgeres into /opt/venv (arm64, emulated)", flush=True)
            in_arm64(root, "python3", "-m", "venv", "/opt/venv")
            in_arm64(root, "/opt/venv/bin/pip", "install", "-q", f"/work/{wheel.name}")
            return check_scores(root, work, models, images)


def write_images(work: Path) -> list[str]:
    import cv2

    from edgeres.data.shapes import generate

    images, _ = generate(5, 32, split="test", seed=3)
    names = [f"img{i}.png" for i in range(len(images))]
    for name, image in zip(names, images, strict=True):
        cv2.imwrite(str(work / name), image)
    return names


def check_scores(root: Path, work: Path, models: list[Path], images: list[str]) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PYTHONPATH=str(REPO), EDGERES_QUIET="1")

    def here(*a: str) -> str:
        cmd = [sys.executable, "-m", "edgeres", *a]
        return subprocess.run(cmd, check=True, text=True, capture_output=True, env=env).stdout

    def there(*a: str) -> str:
        return in_arm64(root, "/opt/venv/bin/edgeres", *a, capture=True).stdout

    profiles = {p["name"]: p["is_host"] for p in json.loads(there("devices", "--json"))}
    ok = profiles.get("raspberry-pi-4", False)
    print(f"arm64 matches raspberry-pi-4: {ok}")
    try:
        in_arm64(root, "/opt/venv/bin/python", "-c", "import torch", capture=True)
        no_torch = False
    except subprocess.CalledProcessError:
        no_torch = True
    print(f"arm64 venv has no torch: {no_torch}")
    ok &= no_torch
    for m in models:
        local = [str(work / i) for i in images]
        same, line = compare(
            m.name,
            scores(here, str(work / m.name), local),
            scores(there, f"/work/{m.name}", [f"/work/{i}" for i in images]),
        )
        print(("ok    " if same else "DIFF  ") + line, flush=True)
        ok &= same
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
