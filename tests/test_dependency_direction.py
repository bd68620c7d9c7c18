"""Dependencies point one way: library (emorecog/) <- components <- pipelines <- commands.

The library never imports a component or a pipeline; components never import a pipeline or a command.
Checked by reading every module's import statements (those inside functions too) with `ast`.
"""

import ast
import pathlib

import pytest

REPOSITORY = pathlib.Path(__file__).resolve().parent.parent
# Installed names of the layers (components/ and pipelines/ are mapped under emorecog by setup.py).
COMMANDS = "emorecog.commands"
COMPONENTS = "emorecog.components"
PIPELINES = "emorecog.pipelines"


def imported_modules(path):
    """Every absolute module name `path` imports, with the line number."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module, node.lineno
            for alias in node.names:  # `from emorecog import components` imports the package too
                yield f"{node.module}.{alias.name}", node.lineno


def modules_under(folder, exclude=()):
    return [
        path
        for path in sorted((REPOSITORY / folder).rglob("*.py"))
        if not any(part in exclude for part in path.relative_to(REPOSITORY / folder).parts)
    ]


def violations(paths, forbidden):
    found = []
    for path in paths:
        for module, line in imported_modules(path):
            if any(module == name or module.startswith(name + ".") for name in forbidden):
                found.append(f"{path.relative_to(REPOSITORY)}:{line} imports {module}")
    return found


def test_the_scan_sees_imports_inside_functions():
    source = REPOSITORY / "emorecog" / "commands" / "cv.py"
    assert any(module.startswith(PIPELINES) for module, _ in imported_modules(source))


@pytest.mark.parametrize(
    "layer, paths, forbidden",
    [
        ("library", modules_under("emorecog", exclude=("commands",)), (COMPONENTS, PIPELINES, COMMANDS)),
        ("components", modules_under("components"), (PIPELINES, COMMANDS)),
        ("pipelines", modules_under("pipelines"), (COMMANDS,)),
    ],
)
def test_dependencies_point_from_commands_to_pipelines_to_components_to_the_library(layer, paths, forbidden):
    assert paths, layer
    assert violations(paths, forbidden) == []
