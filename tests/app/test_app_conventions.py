"""House rules of the app: state without Panel, documented params, no DuckDB outside the store."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import param

import app
import app.state
import app.views

APP = Path(app.__file__).parent


def _modules(package) -> list:
    return [importlib.import_module(f"{package.__name__}.{m.name}") for m in pkgutil.iter_modules(package.__path__)]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_state_data_and_model_never_import_panel():
    for path in [*(APP / "state").glob("*.py"), APP / "data.py", APP / "model.py", APP / "queries.py",
                 APP / "export.py"]:
        assert not {"panel", "bokeh", "holoviews"} & _imports(path), path


def test_only_the_store_touches_duckdb():
    for path in APP.rglob("*.py"):
        assert "duckdb" not in _imports(path), path


def test_views_and_pages_read_through_the_data_store_only():
    for path in [*(APP / "views").glob("*.py"), *(APP / "pages").glob("*.py")]:
        imports = _imports(path)
        assert "pipelines" not in imports, path
        assert "queries" not in path.read_text() or path.name == "status.py", path


def test_every_param_is_documented():
    import app.pages.overview  # noqa: F401
    import app.pages.player  # noqa: F401
    import app.pages.shift  # noqa: F401

    classes = set()
    for module in [*_modules(app.state), *_modules(app.views), *_modules(importlib.import_module("app.pages"))]:
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, param.Parameterized) and cls.__module__.startswith("app."):
                classes.add(cls)
    assert len(classes) > 10
    checked = 0
    for cls in classes:
        for name in cls.param:
            if name != "name" and cls.param[name].owner.__module__.startswith("app."):
                assert cls.param[name].doc, f"{cls.__name__}.{name} has no doc"
                checked += 1
    assert checked > 25
