"""The metric contract is one declaration: outside gpuhealth/catalog.py no module names a family by a
string of its own (FAMILY.<key>, the Field or the constant instead), so that a renamed or added family
is changed in one place."""

from __future__ import annotations

import ast
from pathlib import Path

import gpuhealth
from gpuhealth.catalog import FAMILY, FIELDS, OWN_FAMILIES

PACKAGE = Path(gpuhealth.__file__).parent
NAMES = sorted({f.name for f in FIELDS} | set(vars(FAMILY).values()) | set(OWN_FAMILIES), key=len, reverse=True)


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the string constants that are docstrings (those may name families: they explain)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def family_strings(source: str) -> list[tuple[int, str]]:
    """(line, text) of each string literal of the source (not a docstring) that names a family."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            text = node.value
            if "DCGM_FI_DEV_" in text or any(n in text for n in NAMES):
                found.append((node.lineno, text))
    return sorted(found)


def test_no_module_but_the_catalog_names_a_family_by_a_string():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "catalog.py" and path.parent == PACKAGE:
            continue
        offenders += [f"{path.relative_to(PACKAGE)}:{line}: {text[:60]!r}"
                      for line, text in family_strings(path.read_text())]
    assert not offenders, "family names outside the catalog:\n" + "\n".join(offenders)


def test_the_check_sees_literals_and_f_strings_but_not_docstrings():
    source = ('"""About DCGM_FI_DEV_GPU_TEMP."""\n'
              'A = "DCGM_FI_DEV_GPU_TEMP"\n'
              'B = f"gpu:DCGM_FI_DEV_POWER_USAGE:{x}"\n'
              'C = f"gpu:{FAMILY.gpu_temp}:valid"\n'
              'D = "gpuhealth_xid_errors_total"\n')
    assert [line for line, _ in family_strings(source)] == [2, 3, 5]
