"""The map of docs/ARCHITECTURE.md, enforced on the source: one package per stage, imports running one way
along the pipeline and only through each stage's API, no import cycle, and a torch-free serving side."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "neopain"
# The pipeline, in order: a stage imports only from the stages before it and from the shared modules.
STAGES = ("data", "faces", "models", "train", "evaluate", "federated", "explain", "inference", "export", "app", "cli")
# The shared packages (docs/ARCHITECTURE.md): any stage may import their modules directly; they import no stage.
SHARED = ("core", "pixels", "scales")


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, dotted
    target: str  # the imported module, dotted
    names: tuple[str, ...]  # names taken with `from ... import`; empty for `import x.y`
    line: int
    at_import_time: bool  # module level (runs when the module is imported), not inside a function


def module_name(root: Path, path: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports_in(root: Path, path: Path) -> list[Import]:
    source = module_name(root, path)
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    top = {id(node) for node in tree.body}
    found: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == root.name:
                names = tuple(a.name for a in node.names)
                found.append(Import(source, node.module, names, node.lineno, id(node) in top))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == root.name:
                    found.append(Import(source, alias.name, (), node.lineno, id(node) in top))
    return found


def all_imports(root: Path) -> list[Import]:
    return [imp for path in sorted(root.rglob("*.py")) for imp in _imports_in(root, path)]


def stage_of(module: str) -> str | None:
    """The stage a dotted module belongs to; None for the shared modules and the root package."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] not in SHARED else None


def backward_imports(imports: list[Import]) -> list[str]:
    """Imports of a later stage (or of any stage from a shared module)."""
    bad = []
    for imp in imports:
        here, there = stage_of(imp.source), stage_of(imp.target)
        if there is None or there == here:
            continue
        if here is None or STAGES.index(there) > STAGES.index(here):
            bad.append(f"{imp.source}:{imp.line} imports {imp.target} (a later stage)")
    return bad


def api_violations(imports: list[Import], api: dict[str, set[str]]) -> list[str]:
    """Cross-stage imports that skip the stage's __init__ or take a name it does not list in __all__."""
    bad = []
    for imp in imports:
        here, there = stage_of(imp.source), stage_of(imp.target)
        if there is None or there == here:
            continue
        if imp.target != f"{SRC.name}.{there}" or not imp.names:
            bad.append(f"{imp.source}:{imp.line} imports {imp.target}: use `from neopain.{there} import ...`")
            continue
        missing = sorted(set(imp.names) - api[there])
        if missing:
            bad.append(f"{imp.source}:{imp.line} takes {', '.join(missing)} not in neopain.{there}.__all__")
    return bad


def cycles(imports: list[Import], modules: set[str]) -> list[list[str]]:
    """Cycles among import-time imports (a `from pkg import sub` that names a submodule counts as one)."""
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for imp in imports:
        if not imp.at_import_time:
            continue
        targets = {imp.target} | {f"{imp.target}.{n}" for n in imp.names if f"{imp.target}.{n}" in modules}
        graph[imp.source] |= {t for t in targets if t in modules and t != imp.source}
    found, state = [], dict.fromkeys(graph, 0)  # 0 new, 1 on the path, 2 done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state[nxt] == 1:
                found.append([*path[path.index(nxt):], nxt])
            elif state[nxt] == 0:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(graph):
        if state[start] == 0:
            visit(start, [start])
    return found


def package_modules(root: Path) -> set[str]:
    return {module_name(root, p) for p in root.rglob("*.py")}


def stage_api() -> dict[str, set[str]]:
    return {stage: set(importlib.import_module(f"neopain.{stage}").__all__) for stage in STAGES if stage != "cli"}


def test_the_tree_is_the_stages_and_the_shared_modules() -> None:
    entries = {p.stem for p in SRC.iterdir() if p.name not in ("__init__.py", "py.typed", "__pycache__")}
    assert entries == set(STAGES) | set(SHARED)
    assert all((SRC / package / "__init__.py").is_file() for package in (*STAGES, *SHARED))


def test_stages_import_only_earlier_stages_and_shared_modules() -> None:
    assert backward_imports(all_imports(SRC)) == []


def test_other_stages_import_only_the_api() -> None:
    assert api_violations(all_imports(SRC), stage_api()) == []


def test_every_api_name_resolves() -> None:
    for stage, names in stage_api().items():
        package = importlib.import_module(f"neopain.{stage}")
        for name in sorted(names):
            assert getattr(package, name) is not None, f"neopain.{stage}.{name}"
        doc = (package.__doc__ or "").strip()
        assert doc, f"neopain.{stage}/__init__.py must say what the package owns"


def test_no_import_cycle() -> None:
    assert cycles(all_imports(SRC), package_modules(SRC)) == []


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "neopain"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_checks_catch_a_backward_import_a_skipped_api_and_a_cycle(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "__init__.py": "", "faces/__init__.py": "", "data/__init__.py": "",
        "data/a.py": "from neopain.faces.crop import cut\n",
        "faces/crop.py": "from neopain.faces.box import b\ndef cut(): ...\n",
        "faces/box.py": "from neopain.faces.crop import cut\nb = 1\n",
    })
    imports = all_imports(root)
    assert backward_imports(imports) == ["neopain.data.a:1 imports neopain.faces.crop (a later stage)"]
    assert len(api_violations(imports, {"faces": set(), "data": set()})) == 1
    found = cycles(imports, package_modules(root))
    assert len(found) == 1 and set(found[0]) == {"neopain.faces.box", "neopain.faces.crop"}


@pytest.mark.parametrize("stage", ["inference", "app"])
def test_the_serving_side_never_imports_torch(stage: str) -> None:
    modules = sorted(m for m in package_modules(SRC) if stage_of(m) == stage and ".migrations" not in m)
    code = "import importlib, sys\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules) + (
        "bad = [m for m in ('torch', 'torchvision', 'captum') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
