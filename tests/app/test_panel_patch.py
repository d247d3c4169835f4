"""The kept theme stylesheet paths (`app.panel_patch`) resolve as param resolves them."""

from __future__ import annotations

import panel
import param
import param.parameters as pp
import pytest
from panel.theme.base import DarkTheme, DefaultTheme, Theme

from app import panel_patch


@pytest.fixture
def patched(monkeypatch):
    monkeypatch.setattr(pp.Filename, "_resolve", panel_patch.resolve)
    monkeypatch.setattr(panel_patch, "_RESOLVED", {})


def test_theme_stylesheets_resolve_as_before(monkeypatch, patched):
    themes = [DefaultTheme(), DarkTheme()]
    patched_paths = [t.base_css for t in themes]
    monkeypatch.setattr(pp.Filename, "_resolve", panel_patch.ORIGINAL_RESOLVE)
    assert [t.base_css for t in themes] == patched_paths
    assert all(p is not None for p in patched_paths)


def test_a_theme_stylesheet_is_resolved_once(monkeypatch, patched):
    calls, original = [], panel_patch.ORIGINAL_RESOLVE

    def counting(self, path):
        calls.append(path)
        return original(self, path)

    monkeypatch.setattr(panel_patch, "ORIGINAL_RESOLVE", counting)
    theme = DefaultTheme()
    first = [theme.base_css for _ in range(5)]
    assert len(set(first)) == 1 and len(calls) == 1


def test_a_missing_stylesheet_still_raises_and_is_not_kept(tmp_path, patched):
    class Custom(Theme):
        base_css = param.Filename(default=None)

    missing = tmp_path / "later.css"
    theme = Custom()
    with pytest.raises(OSError):
        theme.base_css = missing  # param checks the file exists when it is set
    missing.write_text("body {}")
    theme.base_css = missing
    assert theme.base_css == str(missing)
    missing.unlink()  # kept now: an installed package's stylesheet does not move while serving
    assert theme.base_css == str(missing)


def test_other_filename_parameters_resolve_on_every_read(tmp_path, monkeypatch, patched):
    class Settings(param.Parameterized):
        path = param.Filename(default=None, check_exists=False)
        strict = param.Filename(default=None)

    here = tmp_path / "a.txt"
    here.write_text("x")
    s = Settings(path=str(here), strict=str(here))
    assert s.path == s.strict == str(here)
    gone = tmp_path / "gone.txt"
    gone.write_text("z")
    s.strict = str(gone)
    assert s.strict == str(gone)
    gone.unlink()
    with pytest.raises(OSError):
        s.strict  # noqa: B018  (not kept: resolved again, and found missing)
    monkeypatch.chdir(tmp_path)
    s.path = "a.txt"  # relative: resolved against the current folder on every read
    assert s.path == str(here)
    other = tmp_path / "sub"
    other.mkdir()
    (other / "a.txt").write_text("y")
    monkeypatch.chdir(other)
    assert s.path == str(other / "a.txt")


def test_it_is_applied_only_to_the_panel_it_was_checked_on(monkeypatch):
    monkeypatch.setattr(pp.Filename, "_resolve", panel_patch.ORIGINAL_RESOLVE)
    monkeypatch.setattr(panel, "__version__", "2.0.0")
    assert panel_patch.apply() is False
    assert pp.Filename._resolve is panel_patch.ORIGINAL_RESOLVE
    monkeypatch.setattr(panel, "__version__", "1.9.4")
    assert panel_patch.apply() is True
    assert pp.Filename._resolve is panel_patch.resolve
