"""The emulators' container images, built on this machine with no image registry needed.

``python -m harness images`` (and the ``docker`` and ``testcontainers`` backends, before they
start anything) builds ``streambench-emulators:local`` from ``emulators/Dockerfile`` and on it
``streambench-pubsub:local``, ``streambench-bigquery:local`` and ``streambench-storage:local``
from ``emulators/*/Dockerfile`` (a port and a command each):

* **The base** is ``python:3.11-slim`` where it is present or can be pulled; otherwise a Debian
  bookworm base built here (``mmdebstrap``, or ``debootstrap``, ``--variant=minbase`` with
  ``python3``, from the Debian mirror apt already uses, then ``docker import``), cached under the
  tag ``streambench-base:bookworm``. ``--base IMAGE`` (or ``STREAMBENCH_BASE_IMAGE``) picks one.
* **The context** is staged in a temporary directory: the ``emulators`` package (from wherever it
  is installed: a clone or site-packages, so a pip-installed project builds the same images) and
  wheels of the ``emulators`` extra, downloaded on the host for the base's Python, glibc and CPU
  (cached under ``~/.cache/streambench/wheelhouse``). The image installs them offline into a
  venv: no Beam, no compilers, nothing fetched inside the build.

The emulator images share every layer of ``streambench-emulators:local``. The images carry a fingerprint of base, wheels and sources: a build with nothing
changed is skipped. Google's Pub/Sub emulator image (``--google``) is pulled where a registry
answers, else built from the Debian package ``google-cloud-cli-pubsub-emulator`` with a JRE from
Debian. ``python -m harness.images`` prepares only the engine and the base (standard library
only: ``nox -s containers`` runs it while its venv installs).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import emulators
from harness import engine as docker_engine
from harness.endpoints import StackError

REGISTRY_BASE = "python:3.11-slim"
LOCAL_BASE = "streambench-base:bookworm"
SHARED_IMAGE = "streambench-emulators:local"  # what the emulator images are built on
EMULATOR_IMAGES = {name: f"streambench-{name}:local" for name in ("pubsub", "bigquery", "storage")}
GOOGLE_PUBSUB_REGISTRY = "gcr.io/google.com/cloudsdktool/google-cloud-cli:emulators"
GOOGLE_PUBSUB_LOCAL = "streambench-google-pubsub:local"
PYTHON_IMAGE = "streambench-python:local"  # stands in for Google's Flex Template launcher base
GOOGLE_PUBSUB_DOCKERFILE = Path(__file__).with_name("google-pubsub.Dockerfile")
GOOGLE_PUBSUB_PACKAGE = "google-cloud-cli-pubsub-emulator"
_SDK_EMULATOR_DIR = "usr/lib/google-cloud-sdk/platform/pubsub-emulator"
BASE_ENV = "STREAMBENCH_BASE_IMAGE"
FINGERPRINT = "streambench.fingerprint"  # image label: what the image was built from
DEBIAN_SUITE = "bookworm"  # its python3 is 3.11
DEFAULT_MIRROR = "http://deb.debian.org/debian"


def _docker(*args: str, timeout: float | None = None, stdin=None, check: bool = True,
            what: str | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                          stdin=stdin)
    if check and done.returncode != 0:
        raise StackError(f"{what or 'docker ' + args[0]} failed: {done.stderr.strip()[-800:]}")
    return done


def image_exists(tag: str) -> bool:
    return _docker("image", "inspect", tag, check=False).returncode == 0


def image_id(tag: str) -> str:
    return _docker("image", "inspect", "--format", "{{.Id}}", tag).stdout.strip()


def image_label(tag: str, label: str) -> str | None:
    done = _docker("image", "inspect", "--format", f'{{{{ index .Config.Labels "{label}" }}}}',
                   tag, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def image_size(tag: str) -> int:
    """Bytes, as ``docker images`` reports them (layers shared with other images included)."""
    return int(_docker("image", "inspect", "--format", "{{.Size}}", tag).stdout.strip())


def try_pull(tag: str, timeout: float = 300) -> bool:
    """Pull ``tag``; False when no registry answers (no DNS, no route, no credentials)."""
    try:
        return _docker("pull", "--quiet", tag, timeout=timeout, check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return False


# -- the base image --


def debian_mirror(sources: Path = Path("/etc/apt")) -> str:
    """The Debian mirror apt already uses for the main suite (deb822 or one-line format)."""
    texts = sorted(sources.glob("sources.list.d/*.sources")) + [sources / "sources.list"]
    texts += sorted(sources.glob("sources.list.d/*.list"))
    for path in texts:
        try:
            text = path.read_text()
        except OSError:
            continue
        if path.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields = dict(re.findall(r"^(\w[\w-]*):\s*(.+)$", stanza, re.M))
                suites = fields.get("Suites", "").split()
                if any(s in (DEBIAN_SUITE, "stable") for s in suites) and fields.get("URIs"):
                    return fields["URIs"].split()[0].rstrip("/")
        for match in re.finditer(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+(\S+)", text, re.M):
            if match.group(2) in (DEBIAN_SUITE, "stable"):
                return match.group(1).rstrip("/")
    return DEFAULT_MIRROR


def _bootstrap_tool() -> str:
    for tool in ("mmdebstrap", "debootstrap"):
        if shutil.which(tool):
            return tool
    if docker_engine.can_install():
        docker_engine.apt_install("mmdebstrap")  # faster than debootstrap: one apt run
        return "mmdebstrap"
    raise StackError(
        f"no image registry answered for {REGISTRY_BASE} and a local Debian base needs mmdebstrap "
        "or debootstrap (root and apt to install them); pass --base IMAGE with an image you have."
    )


def _import_tar(argv: list[str], tag: str) -> None:
    """``argv | docker import - tag``; no image is left under ``tag`` when ``argv`` fails."""
    with tempfile.TemporaryFile() as errors:
        producer = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors)
        imported = subprocess.run(["docker", "import", "-", tag], stdin=producer.stdout,
                                  capture_output=True, text=True)
        producer.stdout.close()
        if producer.wait() != 0:
            _docker("rmi", tag, check=False)
            errors.seek(0)
            tail = errors.read().decode(errors="replace").strip()[-800:]
            raise StackError(f"{argv[0]} failed: {tail}")
    if imported.returncode != 0:
        raise StackError(f"docker import failed: {imported.stderr.strip()[-800:]}")


def build_local_base(tag: str = LOCAL_BASE, mirror: str | None = None) -> None:
    """A minimal Debian bookworm with python3, bootstrapped here and ``docker import``-ed."""
    mirror = mirror or debian_mirror()
    if _bootstrap_tool() == "mmdebstrap":
        # the tarball streams into docker import; no documentation, manual pages or
        # translations (a smaller image, fewer files to unpack), no fsync per file
        trim = [f"--dpkgopt=path-exclude=/usr/share/{d}/*" for d in ("doc", "man", "info", "locale")]
        _import_tar(["mmdebstrap", "--quiet", "--variant=minbase", "--include=python3",
                     "--dpkgopt=force-unsafe-io", *trim, DEBIAN_SUITE, "-", mirror], tag)
        return
    with tempfile.TemporaryDirectory(prefix="streambench-base-") as tmp:
        done = subprocess.run(["debootstrap", "--variant=minbase", "--include=python3",
                               DEBIAN_SUITE, tmp, mirror], capture_output=True, text=True)
        if done.returncode != 0:
            raise StackError(f"debootstrap failed: {done.stdout.strip()[-800:]}")
        _import_tar(["tar", "-C", tmp, "-c", "."], tag)


def choose_base(requested: str | None = None) -> tuple[str, str]:
    """The base image to build on, and how it was had (given, present, pulled, cached, built)."""
    requested = requested or os.environ.get(BASE_ENV)
    if requested:
        if image_exists(requested) or try_pull(requested):
            return requested, "given"
        raise StackError(f"the base image {requested} is not here and could not be pulled.")
    if image_exists(REGISTRY_BASE):
        return REGISTRY_BASE, "present"
    if image_exists(LOCAL_BASE):
        return LOCAL_BASE, "cached (built here earlier)"
    if try_pull(REGISTRY_BASE):
        return REGISTRY_BASE, "pulled"
    build_local_base()
    return LOCAL_BASE, f"built here from Debian {DEBIAN_SUITE} (no registry answered)"


# -- wheels for the base's Python --


def emulator_requirements() -> list[str]:
    """The ``emulators`` extra of the installed project, as requirement strings."""
    from packaging.requirements import Requirement

    wanted = []
    for line in importlib.metadata.requires("streambench") or []:
        req = Requirement(line)
        if req.marker is not None and req.marker.evaluate({"extra": "emulators"}) and (
            not req.marker.evaluate({"extra": ""})
        ):
            req.marker = None
            wanted.append(str(req))
    if not wanted:
        raise StackError("the installed streambench declares no `emulators` extra.")
    return wanted


@dataclass(frozen=True)
class Target:
    """What wheels the base image can install: Python version, glibc, CPU."""

    python: str  # "3.11"
    glibc: str  # "2.36"
    machine: str  # "x86_64"

    @classmethod
    def of(cls, image: str) -> Target:
        """Asked of the image's python3 once, then remembered by image id."""
        known = cache_dir() / "targets" / f"{image_id(image).replace(':', '-')}.json"
        if known.exists():
            return cls(**json.loads(known.read_text()))
        probe = (
            "import os, platform, sys; "
            "print(f'{sys.version_info[0]}.{sys.version_info[1]}', "
            "os.confstr('CS_GNU_LIBC_VERSION').split()[1], platform.machine())"
        )
        out = _docker("run", "--rm", "--network", "none", image, "python3", "-c", probe,
                      what=f"probing python3 in {image}").stdout.split()
        target = cls(*out)
        known.parent.mkdir(parents=True, exist_ok=True)
        known.write_text(json.dumps(target.__dict__))
        return target

    def pip_args(self) -> list[str]:
        major, minor = self.python.split(".")
        # pip does not widen a given manylinux_2_N to the older tags the glibc also runs: list them
        glibc_minor = int(self.glibc.split(".")[1])
        platforms = [f"manylinux_2_{m}_{self.machine}" for m in range(glibc_minor, 4, -1)]
        platforms += [f"{legacy}_{self.machine}" for legacy in
                      ("manylinux2014", "manylinux2010", "manylinux1")]
        return [
            "--only-binary=:all:", "--implementation", "cp", "--python-version", self.python,
            "--abi", f"cp{major}{minor}",
            *[arg for platform in platforms for arg in ("--platform", platform)],
        ]


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "streambench"


def host_versions() -> list[str]:
    """``name==version`` of every distribution installed here: the image gets the versions the
    tests ran with, not whatever is newest on the index today."""
    pins = set()
    for dist in importlib.metadata.distributions():
        name, version = dist.metadata["Name"], dist.version
        if name and "+" not in version and name.lower() != "streambench":
            pins.add(f"{name}=={version}")
    return sorted(pins)


def wheelhouse(target: Target, requirements: list[str]) -> Path:
    """Wheels of ``requirements`` (and pip) for ``target``, downloaded once and cached."""
    pins = host_versions()
    key = json.dumps([target.__dict__, sorted(requirements), pins])
    key = hashlib.sha256(key.encode()).hexdigest()
    path = cache_dir() / "wheelhouse" / key[:16]
    if (path / "requirements.txt").exists():
        return path
    if importlib.util.find_spec("pip") is None:
        raise StackError("building the images downloads wheels with pip, and this Python has "
                         "none: python -m ensurepip (or pip install pip) first.")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="wheels-", dir=path.parent) as work:
        wheels, constraints = Path(work) / "wheels", Path(work) / "constraints.txt"
        wheels.mkdir()
        (wheels / "requirements.txt").write_text("\n".join(requirements) + "\n")
        constraints.write_text("\n".join(pins) + "\n")
        for dest, reqs in ((wheels, ["-r", str(wheels / "requirements.txt")]),
                           (wheels / "pip", ["pip"])):
            done = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                 *target.pip_args(), "-c", str(constraints), "-d", str(dest), *reqs],
                capture_output=True, text=True,
            )
            if done.returncode != 0:
                raise StackError(f"pip download of the emulators' wheels failed: "
                                 f"{done.stderr.strip()[-800:]}")
        next((wheels / "pip").glob("pip-*.whl")).rename(wheels / "pip" / "pip.whl")
        wheels.rename(path)
    return path


def stage_context(directory: Path, wheels: Path) -> Path:
    """The build context: ``wheels/``, ``pip.whl`` and the ``emulators`` package, as installed."""
    package = Path(emulators.__file__).resolve().parent
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "Dockerfile")
    shutil.copytree(package, directory / "emulators", ignore=ignore)
    shutil.copytree(wheels, directory / "wheels", ignore=shutil.ignore_patterns("pip"))
    shutil.copy(wheels / "pip" / "pip.whl", directory / "pip.whl")
    return directory


# -- building --


@dataclass
class BuildReport:
    """What a build did: the base, seconds per step, the images and their sizes."""

    base: str = ""
    base_how: str = ""
    seconds: dict[str, float] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"base image: {self.base} ({self.base_how})", *self.notes]
        out += [f"time, {step}: {secs:.1f} s" for step, secs in self.seconds.items()]
        out.append(f"time, all: {sum(self.seconds.values()):.1f} s")
        out += [f"size, {tag}: {size / 1e6:.0f} MB" for tag, size in self.sizes.items()]
        if set(EMULATOR_IMAGES.values()) <= set(self.sizes):
            out.append("(the emulator images share every layer but their last metadata)")
        return out


class _Timer:
    def __init__(self, report: BuildReport, step: str):
        self.report, self.step = report, step

    def __enter__(self):
        self.start = time.monotonic()

    def __exit__(self, *exc):
        self.report.seconds[self.step] = time.monotonic() - self.start


def _build(tag: str, dockerfile: Path, context: Path, *extra: str) -> None:
    shutil.copy(dockerfile, context / "Dockerfile")
    _docker("build", "--quiet", "--tag", tag, *extra, str(context), what=f"building {tag}")


def build_emulators(base: str | None = None, report: BuildReport | None = None) -> BuildReport:
    """Build (or bring up to date) the emulator images; cheap when nothing changed."""
    report = report or BuildReport()
    docker_engine.find()
    with _Timer(report, "base image"):
        report.base, report.base_how = choose_base(base)
    with _Timer(report, "wheels"):
        wheels = wheelhouse(Target.of(report.base), emulator_requirements())
    package = Path(emulators.__file__).resolve().parent
    fingerprint = _fingerprint(image_id(report.base), wheels.name, package)
    label = ("--label", f"{FINGERPRINT}={fingerprint}")
    if all(image_label(tag, FINGERPRINT) == fingerprint
           for tag in (SHARED_IMAGE, *EMULATOR_IMAGES.values())):
        report.notes.append("emulator images: up to date (same base, wheels and sources)")
    else:
        with _Timer(report, "emulator images"), tempfile.TemporaryDirectory() as tmp:
            shared, own = Path(tmp) / "shared", Path(tmp) / "own"
            own.mkdir()
            _build(SHARED_IMAGE, package / "Dockerfile", stage_context(shared, wheels),
                   "--build-arg", f"BASE_IMAGE={report.base}", *label)
            for name, tag in EMULATOR_IMAGES.items():  # a port and a command: an empty context
                _build(tag, package / name / "Dockerfile", own,
                       "--build-arg", f"EMULATORS_IMAGE={SHARED_IMAGE}", *label)
        # the images these replaced, now untagged (the build cache's stages carry no label)
        _docker("image", "prune", "--force", "--filter", f"label={FINGERPRINT}", check=False)
    report.sizes.update({tag: image_size(tag) for tag in EMULATOR_IMAGES.values()})
    return report


def _fingerprint(base_id: str, wheels: str, package: Path) -> str:
    """What the emulator images are made of: the base, the wheels, every file of the package."""
    digest = hashlib.sha256(f"{base_id}\n{wheels}\n".encode())
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:32]


def _google_emulator_files(into: Path) -> str:
    """Google's emulator from its Debian package into ``into``; where it came from."""
    with tempfile.TemporaryDirectory() as tmp:
        fetched = subprocess.run(["apt-get", "download", GOOGLE_PUBSUB_PACKAGE], cwd=tmp,
                                 capture_output=True, text=True) if shutil.which("apt-get") else None
        debs = list(Path(tmp).glob("*.deb"))
        if fetched is not None and fetched.returncode == 0 and debs:
            subprocess.run(["dpkg-deb", "-x", str(debs[0]), tmp], check=True)
            shutil.copytree(Path(tmp) / _SDK_EMULATOR_DIR, into)
            return f"the Debian package {debs[0].name}"
    from harness import google_emulator

    jar = google_emulator.find_jar()
    if jar is None:
        raise StackError(
            f"Google's Pub/Sub emulator image could not be pulled ({GOOGLE_PUBSUB_REGISTRY}) and "
            f"its Debian package {GOOGLE_PUBSUB_PACKAGE} is neither downloadable nor installed."
        )
    shutil.copytree(jar.parent.parent, into)
    return f"the installed {GOOGLE_PUBSUB_PACKAGE} files ({jar.parent.parent})"


def build_google_pubsub(base: str | None = None, report: BuildReport | None = None) -> str:
    """The image for compose's ``--profile google`` Pub/Sub service; returns its tag."""
    report = report or BuildReport()
    with _Timer(report, "google pubsub image"):
        if image_exists(GOOGLE_PUBSUB_LOCAL):
            tag, how = GOOGLE_PUBSUB_LOCAL, "built here earlier"
        elif image_exists(GOOGLE_PUBSUB_REGISTRY) or try_pull(GOOGLE_PUBSUB_REGISTRY):
            tag, how = GOOGLE_PUBSUB_REGISTRY, "pulled"
        else:
            base = base or choose_base()[0]
            with tempfile.TemporaryDirectory() as tmp:
                how = _google_emulator_files(Path(tmp) / "pubsub-emulator")
                # the JRE comes from Debian's mirror: the build needs the host's network
                _build(GOOGLE_PUBSUB_LOCAL, GOOGLE_PUBSUB_DOCKERFILE, Path(tmp),
                       "--build-arg", f"BASE_IMAGE={base}", "--network", "host")
            tag, how = GOOGLE_PUBSUB_LOCAL, f"built here from {how}"
    report.sizes[tag] = image_size(tag)
    report.notes.append(f"google pubsub image: {tag} ({how})")
    return tag


_PYTHON_DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY pip /tmp/pip
RUN python3 -m venv --without-pip /opt/python \\
 && /opt/python/bin/python /tmp/pip/$(ls /tmp/pip)/pip install --no-cache-dir --no-index \\
      --disable-pip-version-check /tmp/pip/*.whl \\
 && rm -rf /tmp/pip
ENV PATH=/opt/python/bin:$PATH
"""


def build_python_base(base: str | None = None, report: BuildReport | None = None) -> str:
    """``python`` and ``pip`` on the base, as Google's Flex Template launcher base has them:
    what ``python -m deploy template build --base-image`` builds on here (a Debian base has
    python3 only). Returns its tag."""
    import zipfile

    report = report or BuildReport()
    base = base or choose_base()[0]
    wheels = wheelhouse(Target.of(base), emulator_requirements())
    pip_wheel = wheels / "pip" / "pip.whl"
    with zipfile.ZipFile(pip_wheel) as archive:  # pip installs a wheel only by its real name
        version = next(n.split("/")[0][4:-10] for n in archive.namelist()
                       if n.startswith("pip-") and n.split("/")[0].endswith(".dist-info"))
    fingerprint = hashlib.sha256(
        f"{image_id(base)}\n{version}\n{_PYTHON_DOCKERFILE}".encode()).hexdigest()[:32]
    label = ("--label", f"{FINGERPRINT}={fingerprint}")
    fresh = image_label(PYTHON_IMAGE, FINGERPRINT) == fingerprint
    if not fresh:
        with _Timer(report, "python image"), tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "pip").mkdir()
            shutil.copy(pip_wheel, Path(tmp) / "pip" / f"pip-{version}-py3-none-any.whl")
            dockerfile = Path(tmp) / "python.Dockerfile"
            dockerfile.write_text(_PYTHON_DOCKERFILE)
            _build(PYTHON_IMAGE, dockerfile, Path(tmp), "--build-arg", f"BASE_IMAGE={base}",
                   *label)
        report.sizes[PYTHON_IMAGE] = image_size(PYTHON_IMAGE)
    report.notes.append(f"python image: {PYTHON_IMAGE} ({'up to date' if fresh else 'built'}; "
                        f"python -m deploy template build --base-image {PYTHON_IMAGE})")
    return PYTHON_IMAGE


def google_pubsub_compose_env(tag: str) -> dict[str, str]:
    """The variables that make compose's ``google-pubsub`` service run ``tag``."""
    if tag == GOOGLE_PUBSUB_REGISTRY:
        return {}
    return {"STREAMBENCH_GOOGLE_PUBSUB_IMAGE": tag,
            "STREAMBENCH_GOOGLE_PUBSUB_COMMAND": "--host=0.0.0.0 --port=8085"}


def main() -> int:
    """``python -m harness.images``: a Docker engine (installed and started where none runs and
    root with apt may) and the base image, nothing else. Standard library only, so
    ``nox -s containers`` runs it while its venv installs: on a clean machine each takes minutes."""
    started = time.monotonic()
    try:
        print(docker_engine.ensure().describe(), flush=True)
        base, how = choose_base()
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"base image: {base} ({how}); engine and base ready in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
