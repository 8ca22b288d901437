"""The shape of the code, checked: the import graph has no cycle and points down, only ``qa/store.py`` talks to
Chroma, only ``qa/config.py`` reads ``QA_*`` variables, and the declared dependencies are the imported ones.

Read with ``ast``, so nothing is imported or run.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("qa", "ingest", "evals")
# Distributions used as programs rather than imported: the local model's server runs as `python -m
# llama_cpp.server` in a child process, the linters run from ./test.
RUN_NOT_IMPORTED = {"llama-cpp-python", "ruff", "mypy"}


def sources() -> Iterator[tuple[str, Path]]:
    """(module name, file) of every first-party module, and the launcher ``app``."""
    yield "app", ROOT / "app.py"
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            yield ".".join(parts), path


def imports(module: str, path: Path) -> set[str]:
    """Full names of the modules a file imports (relative imports resolved)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")[: len(module.split(".")) - node.level + (path.name == "__init__.py")]
                base = ".".join([*package, base] if base else package)
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)
    return out


def first_party_graph() -> dict[str, set[str]]:
    modules = dict(sources())
    return {m: {i for i in imports(m, p) if i in modules and i != m} for m, p in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return stack[stack.index(n) :] + [n]
            if n not in state and (cycle := visit(n)):
                return cycle
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (cycle := visit(m)):
            return cycle
    return None


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_import_graph_has_no_cycle():
    assert find_cycle(first_party_graph()) is None


def test_imports_point_down_the_layers():
    """``qa`` is the library: it never imports ``ingest``, ``evals`` or the launcher; ``ingest`` never ``evals``."""
    below = {"qa": ("ingest", "evals", "app"), "ingest": ("evals", "app"), "evals": ("app",)}
    wrong = [
        f"{m} imports {i}"
        for m, targets in first_party_graph().items()
        for i in targets
        if m.split(".")[0] in below and i.split(".")[0] in below[m.split(".")[0]]
    ]
    assert wrong == []


def test_only_the_store_talks_to_chroma():
    offenders = []
    for module, path in sources():
        if module == "qa.store":
            continue
        tree = ast.parse(path.read_text(), str(path))
        if any(
            i.split(".")[0] == "chromadb" or i.startswith("llama_index.vector_stores.chroma")
            for i in imports(module, path)
        ):
            offenders.append(f"{module} imports Chroma")
        offenders += [
            f"{module}:{n.lineno} uses {ast.unparse(n)}"
            for n in ast.walk(tree)
            if isinstance(n, ast.Attribute)
            and (n.attr == "_collection" or n.attr == "collection" and not ast.unparse(n.value).endswith("config"))
        ]
    assert offenders == []


def _reads_qa_variable(node: ast.AST) -> bool:
    """``os.environ["QA_X"]``, ``os.environ.get("QA_X")``, ``os.getenv("QA_X")`` and the like."""

    def qa_name(n: ast.AST) -> bool:
        return isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value.startswith("QA_")

    if isinstance(node, ast.Subscript) and "environ" in ast.unparse(node.value):
        return qa_name(node.slice)
    if isinstance(node, ast.Call) and node.args and qa_name(node.args[0]):
        f = ast.unparse(node.func)
        return f.endswith("getenv") or ("environ" in f and f.endswith((".get", ".pop", ".setdefault")))
    return False


def test_qa_settings_are_read_in_config_only():
    offenders = [
        f"{m}:{n.lineno}"
        for m, p in sources()
        if m != "qa.config"
        for n in ast.walk(ast.parse(p.read_text(), str(p)))
        if _reads_qa_variable(n)
    ]
    assert offenders == []


def _declared() -> dict[str, set[str]]:
    """Requirement name (normalised) -> the groups that declare it: main, and each optional extra."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    out: dict[str, set[str]] = {}
    for group, reqs in [("main", project["dependencies"]), *project["optional-dependencies"].items()]:
        for r in reqs:
            out.setdefault(
                metadata.distribution(re.match(r"[\w.-]+", r).group(0)).name.lower().replace("_", "-"), set()
            ).add(group)
    return out


def _provider(module: str, files: dict[str, str]) -> str | None:
    """The declared distribution that ships ``module`` (longest matching package path wins)."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        stem = "/".join(parts[:n])
        for candidate in (f"{stem}/__init__.py", f"{stem}.py", stem):
            if candidate in files:
                return files[candidate]
    return None


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_declared_dependencies_are_the_imported_ones():
    declared = _declared()
    files: dict[str, str] = {}
    for dist_name in declared:
        dist = metadata.distribution(dist_name)
        for f in dist.files or []:
            name = str(f)
            files.setdefault(name, dist_name)
            if name.endswith(".so") or "/" in name:  # a package folder, or a compiled top-level module
                files.setdefault(name.split("/")[0], dist_name)
    used: set[str] = set()
    undeclared = []
    first_party = {m for m, _ in sources()} | set(PACKAGES)
    for module, path in [*sources(), *((f"tests.{p.stem}", p) for p in (ROOT / "tests").rglob("*.py"))]:
        for i in imports(module, path):
            top = i.split(".")[0]
            if not top or top in sys.stdlib_module_names or top in first_party or top == "tests" or i in first_party:
                continue
            provider = _provider(i, files)
            if provider is None:
                undeclared.append(f"{module} imports {i}")
                continue
            groups = declared[provider]
            if not module.startswith("tests.") and "main" not in groups and "local" not in groups:
                undeclared.append(f"{module} imports {i}, declared only for {sorted(groups)}")
            used.add(provider)
    assert undeclared == []
    unused = {d for d in declared if d not in used and d.replace("_", "-") not in RUN_NOT_IMPORTED}
    assert unused == set()
