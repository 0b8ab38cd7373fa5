"""Cross builds of ``loadrun-runner`` for phones and ARM boards, cached by content hash.

``build_runner("android-arm64")`` compiles the native sources (core, generic and NEON kernels,
runner) into one static executable with a cross compiler found on this machine:

- ``zig cc`` (``pip install ziglang``, or ``zig`` on PATH): ``-target aarch64-linux-musl`` gives a
  static musl binary that runs on Linux and on Android alike (no dynamic loader involved);
- ``aarch64-linux-gnu-gcc -static`` (Debian ``gcc-aarch64-linux-gnu``) as the alternative.

The result lives under ``$LOADRUN_CACHE/builds/`` (default ``~/.cache/loadrun/builds/``) in a
folder named after the SHA-256 of every source byte, the target, the flags and the compiler's
version, so an unchanged tree never compiles twice and a changed one never runs stale code.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from loadrun.errors import LoadrunError

SOURCE_ROOT = Path(__file__).resolve().parent.parent / "native"
SOURCE_DIRS = ("include", "core", "generic", "arm", "runner")
RUNNER_NAME = "loadrun-runner"


class BuildError(LoadrunError):
    """A cross build cannot run: no toolchain, no sources, or the compiler failed."""


@dataclass(frozen=True)
class BuildTarget:
    name: str
    arch: str  # what `uname -m` says on the device
    abis: tuple[str, ...]  # Android ro.product.cpu.abi values it serves
    zig_target: str
    zig_flags: tuple[str, ...]
    gcc: str | None  # Debian cross gcc, when one exists for this target
    gcc_flags: tuple[str, ...]
    qemu: str  # the user-mode emulator that runs it on another machine


TARGETS: dict[str, BuildTarget] = {
    "linux-aarch64": BuildTarget("linux-aarch64", "aarch64", ("arm64-v8a",), "aarch64-linux-musl",
                                 ("-mcpu=generic",), "aarch64-linux-gnu-gcc", ("-march=armv8-a",),
                                 "qemu-aarch64-static"),
    "android-arm64": BuildTarget("android-arm64", "aarch64", ("arm64-v8a",), "aarch64-linux-musl",
                                 ("-mcpu=generic",), "aarch64-linux-gnu-gcc", ("-march=armv8-a",),
                                 "qemu-aarch64-static"),
    "android-armv7": BuildTarget("android-armv7", "armv7l", ("armeabi-v7a",), "arm-linux-musleabihf",
                                 ("-mcpu=cortex_a7",), "arm-linux-gnueabihf-gcc",
                                 ("-march=armv7-a", "-mfpu=neon-vfpv4", "-mfloat-abi=hard"),
                                 "qemu-arm-static"),
}
ABI_TO_TARGET = {"arm64-v8a": "android-arm64", "armeabi-v7a": "android-armv7"}
COMMON_FLAGS = ("-O3", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter",
                "-Werror=implicit-function-declaration", "-static", "-DNDEBUG")


@dataclass(frozen=True)
class Toolchain:
    kind: str  # "zig" or "gcc"
    command: tuple[str, ...]  # argv prefix of the C compiler
    version: str

    def argv(self, target: BuildTarget) -> list[str]:
        if self.kind == "zig":
            return [*self.command, "-target", target.zig_target, *target.zig_flags]
        return [*self.command, *target.gcc_flags]


@dataclass(frozen=True)
class BuiltRunner:
    target: str
    path: Path
    digest: str
    toolchain: str
    cached: bool  # True when an earlier build was reused
    seconds: float

    def to_dict(self) -> dict:
        return {"target": self.target, "path": str(self.path), "digest": self.digest,
                "toolchain": self.toolchain, "cached": self.cached, "seconds": round(self.seconds, 3)}


def cache_root() -> Path:
    env = os.environ.get("LOADRUN_CACHE")
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "loadrun"
    return base / "builds"


def get_target(name: str) -> BuildTarget:
    try:
        return TARGETS[name]
    except KeyError:
        raise BuildError(f"unknown build target {name!r}; choose one of {', '.join(TARGETS)}") from None


def _zig_command() -> tuple[str, ...] | None:
    try:
        import ziglang  # noqa: F401  (pip install ziglang ships the zig binary inside the package)

        zig = Path(ziglang.__file__).parent / "zig"
        if zig.is_file():
            return (str(zig),)
    except ImportError:
        pass
    found = shutil.which("zig")
    return (found,) if found else None


def find_toolchain(target: BuildTarget, prefer: str | None = None) -> Toolchain:
    """The cross compiler to use: ``prefer`` ("zig" or "gcc"), else zig, else the Debian gcc."""
    if prefer not in (None, "zig", "gcc"):
        raise BuildError(f"--toolchain {prefer!r}: choose zig or gcc")
    order = [prefer] if prefer else ["zig", "gcc"]
    for kind in order:
        if kind == "zig" and (zig := _zig_command()):
            version = _run_version([*zig, "version"])
            return Toolchain("zig", (*zig, "cc"), f"zig {version}")
        if kind == "gcc" and target.gcc and (gcc := shutil.which(target.gcc)):
            return Toolchain("gcc", (gcc,), _run_version([gcc, "--version"]).splitlines()[0])
    hint = "pip install ziglang (or: pip install 'loadrun[arm]')"
    if target.gcc and prefer != "zig":  # Debian names the package after the compiler: gcc-<triple>
        hint += f", or apt-get install gcc-{target.gcc.removesuffix('-gcc')}"
    raise BuildError(f"no cross compiler for {target.name}: {hint}")


def _run_version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except OSError as e:
        raise BuildError(f"{argv[0]}: cannot run ({e.strerror})") from None
    return (out.stdout or out.stderr).strip()


def source_files(root: Path = SOURCE_ROOT) -> list[Path]:
    if not (root / "runner" / "runner.c").is_file():
        raise BuildError(f"the native sources are not at {root}; cross builds need a source checkout "
                         "of loadrun (git clone ...; pip install -e .)")
    files = [p for d in SOURCE_DIRS for p in sorted((root / d).glob("*"))
             if p.suffix in (".c", ".h") and p.is_file()]
    return files


ID_SOURCE_DIRS = ("include", "core", "generic", "arm", "x86")


def source_id(root: Path = SOURCE_ROOT) -> str:
    """The runtime sources' content hash in the build id (``lr_build_id``): the same recipe as
    CMakeLists.txt (sha256 over sorted "dir/file:sha256" lines), so a host build and a cross
    build of the same sources carry the same id."""
    lines = []
    for d in ID_SOURCE_DIRS:
        for p in sorted((root / d).glob("*")):
            if p.suffix in (".c", ".h") and p.is_file():
                lines.append(f"{d}/{p.name}:{hashlib.sha256(p.read_bytes()).hexdigest()}\n")
    return hashlib.sha256("".join(sorted(lines)).encode()).hexdigest()[:12]


def build_digest(target: BuildTarget, toolchain: Toolchain, flags: list[str], files: list[Path],
                 root: Path = SOURCE_ROOT) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"target": target.name, "toolchain": toolchain.version, "flags": flags}).encode())
    for p in files:
        h.update(str(p.relative_to(root)).encode() + b"\0")
        h.update(p.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def build_runner(target_name: str, *, toolchain: str | None = None, force: bool = False,
                 log=None) -> BuiltRunner:
    """The static runner for ``target_name``, from the cache when its sources are unchanged."""
    start = time.monotonic()
    target = get_target(target_name)
    tc = find_toolchain(target, toolchain)
    files = source_files()
    flags = [*tc.argv(target)[len(tc.command):], *COMMON_FLAGS]
    # the id names native/x86 too, which this build does not compile: it is part of the digest, so a
    # cached runner never carries another tree's id
    source_define = f'-DLR_SOURCE_HASH="{source_id()}"'
    digest = build_digest(target, tc, [*flags, source_define], files)
    out_dir = cache_root() / f"{target.name}-{digest[:20]}"
    exe = out_dir / RUNNER_NAME
    if exe.is_file() and not force:
        return BuiltRunner(target.name, exe, digest, tc.version, True, time.monotonic() - start)
    sources = [str(p) for p in files if p.suffix == ".c"]
    build_flags = f"{' '.join(flags)} {target.arch}"
    argv = [*tc.argv(target), *COMMON_FLAGS,
            *(f"-I{SOURCE_ROOT / d}" for d in ("include", "core", "generic", "arm")),
            f'-DLR_BUILD_FLAGS="{build_flags}"', source_define, *sources, "-lm", "-lpthread"]
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=out_dir.parent))
    try:
        argv += ["-o", str(tmp / RUNNER_NAME)]
        if log:
            log(f"building {RUNNER_NAME} for {target.name} with {tc.version}")
        env = dict(os.environ)
        env.setdefault("ZIG_GLOBAL_CACHE_DIR", str(cache_root().parent / "zig"))
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900)
        except OSError as e:
            raise BuildError(f"{argv[0]}: cannot run ({e.strerror})") from None
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-20:])
            raise BuildError(f"the {target.name} build failed ({tc.version}):\n{tail}")
        (tmp / "build.json").write_text(json.dumps({
            "target": target.name, "digest": digest, "toolchain": tc.version, "flags": flags,
            "sources": len(sources), "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }, indent=2) + "\n")
        try:
            os.rename(tmp, out_dir)  # atomic: a concurrent build of the same digest wins or loses whole
        except OSError:
            if not exe.is_file():
                shutil.rmtree(out_dir, ignore_errors=True)
                os.rename(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return BuiltRunner(target.name, exe, digest, tc.version, False, time.monotonic() - start)


def target_for_abi(abi: str) -> str:
    """The build target serving an Android ABI (``ro.product.cpu.abi``)."""
    try:
        return ABI_TO_TARGET[abi]
    except KeyError:
        raise BuildError(f"the device's ABI {abi!r} is not supported; loadrun builds for "
                         f"{', '.join(ABI_TO_TARGET)}") from None


def find_qemu(target: BuildTarget) -> str | None:
    """The user-mode emulator for ``target`` (Debian qemu-user-static), when installed."""
    for name in (target.qemu, target.qemu.replace("-static", "")):
        if found := shutil.which(name):
            return found
    return None


if __name__ == "__main__":  # python -m loadrun.build TARGET: a build without the CLI
    print(json.dumps(build_runner(sys.argv[1] if len(sys.argv) > 1 else "linux-aarch64").to_dict()))
