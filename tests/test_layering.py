"""DESIGN.md's arrows, one test per "never": each package's imports (every `import`, at any depth, lazy ones
included) stay inside what it may use, so a wrong import fails CI."""
import ast
import pathlib

import pytest

from tests.conftest import ROOT

# package -> modules of ours it must never import
NEVER = {
    "jaxgen.nn": ("jaxgen.data", "jaxgen.diffusion", "jaxgen.eval", "jaxgen.gan", "jaxgen.autoregressive", "jaxgen.tasks",
                  "jaxgen.train", "jaxgen.run", "jaxgen.parallel"),
    "jaxgen.diffusion": ("jaxgen.tasks", "jaxgen.train", "jaxgen.run", "jaxgen.data", "jaxgen.eval"),
    "jaxgen.gan": ("jaxgen.tasks", "jaxgen.train", "jaxgen.run", "jaxgen.data", "jaxgen.eval"),
    "jaxgen.autoregressive": ("jaxgen.tasks", "jaxgen.train", "jaxgen.run", "jaxgen.data", "jaxgen.eval"),
    "jaxgen.compression": ("jaxgen.tasks", "jaxgen.train", "jaxgen.run", "jaxgen.data", "jaxgen.eval"),
    "jaxgen.train": ("jaxgen.tasks", "jaxgen.run", "jaxgen.run_config", "jaxgen.eval"),
    "jaxgen.eval": ("jaxgen.tasks", "jaxgen.train", "jaxgen.run", "jaxgen.run_config"),
    "jaxgen.data": ("jaxgen.tasks", "jaxgen.train", "jaxgen.eval", "jaxgen.run", "jaxgen.nn"),
    "jaxgen.tasks": ("jaxgen.run", "jaxgen.run_config"),
    "jaxgen.run_config": ("jaxgen.tasks", "jaxgen.train", "jaxgen.eval", "jaxgen.data", "jaxgen.run"),
    "jaxgen.errors": ("jaxgen.",),
    "jaxgen.host_allocator": ("jaxgen.",),
    "jaxgen.parallel": ("jaxgen.tasks", "jaxgen.train", "jaxgen.eval", "jaxgen.data", "jaxgen.run"),
}


def imported_modules(source: str, module: str) -> set[str]:
    """Every module an `import` or `from ... import` names in `source` (relative imports resolved)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(module.split(".")[: -node.level] + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def violations(package: str, forbidden: tuple[str, ...]) -> list[str]:
    folder = ROOT / package.replace(".", "/")
    files = sorted(folder.rglob("*.py")) if folder.is_dir() else [folder.with_suffix(".py")]
    found = []
    for path in files:
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for name in imported_modules(path.read_text(), module):
            if any(name == f or name.startswith(f.rstrip(".") + ".") or (f.endswith(".") and name.startswith(f)) for f in forbidden):
                found.append(f"{module} imports {name}")
    return found


@pytest.mark.parametrize("package", sorted(NEVER))
def test_the_package_never_imports_what_design_forbids(package):
    assert violations(package, NEVER[package]) == []


def test_the_check_finds_a_forbidden_import(tmp_path):
    """The check has teeth: a lazy import inside a function is found, and a relative one is resolved."""
    source = "def f():\n    from jaxgen.tasks import gan\n    from ..train import loop\n"
    names = imported_modules(source, "jaxgen.diffusion.samplers")
    assert "jaxgen.tasks.gan" in names and "jaxgen.train.loop" in names
    assert pathlib.Path(ROOT / "jaxgen" / "diffusion").is_dir()
