"""The faster serialisation loop (`app.bokeh_patch`) sends exactly what Bokeh's own loop sends."""

from __future__ import annotations

import json
import re

import bokeh
import bokeh.model.util as model_util
import panel as pn
import pytest
from bokeh.core.has_props import HasProps
from bokeh.core.property.descriptors import PropertyDescriptor, UnsetValueError
from bokeh.document import Document

from app import bokeh_patch
from app.pages.overview import OverviewPage
from app.pages.player import PlayerPage
from app.pages.shift import ShiftPage
from app.state import OverviewState, PlayerSearch, PlayerState, ShiftState
from tests.app.demo_store import busiest_player, session


def _document(viewable) -> Document:
    doc = Document()
    doc.add_root(pn.panel(viewable).get_root(doc))
    return doc


def _json(doc: Document) -> str:
    return json.dumps(doc.to_json(), sort_keys=True, default=str)


@pytest.fixture
def pages(data, demo_db) -> list[Document]:
    who = session()
    player = PlayerState(data=data, session=who, player_id=busiest_player(demo_db)["player_id"])
    shift = ShiftState(data=data, session=who)
    return [_document(PlayerPage(player=player, search=PlayerSearch(data=data, session=who))),
            _document(OverviewPage(overview=OverviewState(data=data, session=who))),
            _document(ShiftPage(shift=shift, open_player=lambda _pid: None))]


def test_whole_pages_serialise_the_same_with_and_without_the_patch(pages, monkeypatch):
    assert sum(len(doc.models) for doc in pages) > 150  # real pages: charts, widgets, panes
    before = [_json(doc) for doc in pages]
    monkeypatch.setattr(HasProps, "query_properties_with_values", bokeh_patch.query_properties_with_values)
    assert [_json(doc) for doc in pages] == before
    # and after a change, which is what a session sends most
    monkeypatch.setattr(HasProps, "query_properties_with_values", bokeh_patch.ORIGINAL)
    for doc in pages:
        next(iter(doc.models)).tags = ["changed"]
    changed = [_json(doc) for doc in pages]
    monkeypatch.setattr(HasProps, "query_properties_with_values", bokeh_patch.query_properties_with_values)
    assert [_json(doc) for doc in pages] == changed


def test_whole_pages_reach_the_same_models_with_and_without_the_patch(pages, monkeypatch):
    def reached() -> list[list[str]]:
        return [sorted(m.id for m in model_util.collect_models(*doc.roots)) for doc in pages]

    before = reached()
    assert all(len(ids) == len(doc.models) for ids, doc in zip(before, pages))
    monkeypatch.setattr(model_util, "visit_immediate_value_references", bokeh_patch.visit_immediate_value_references)
    assert reached() == before


def test_it_is_applied_only_to_the_bokeh_it_was_checked_on(monkeypatch):
    monkeypatch.setattr(HasProps, "query_properties_with_values", bokeh_patch.ORIGINAL)
    monkeypatch.setattr(model_util, "visit_immediate_value_references", bokeh_patch.ORIGINAL_VISIT)
    monkeypatch.setattr(HasProps, "__init__", bokeh_patch.ORIGINAL_INIT)
    monkeypatch.setattr(PropertyDescriptor, "_get_default", bokeh_patch.ORIGINAL_GET_DEFAULT)
    monkeypatch.setattr(bokeh, "__version__", "4.0.0")
    assert bokeh_patch.apply() is False
    assert HasProps.query_properties_with_values is bokeh_patch.ORIGINAL
    assert model_util.visit_immediate_value_references is bokeh_patch.ORIGINAL_VISIT
    assert HasProps.__init__ is bokeh_patch.ORIGINAL_INIT
    assert PropertyDescriptor._get_default is bokeh_patch.ORIGINAL_GET_DEFAULT
    monkeypatch.setattr(bokeh, "__version__", "3.9.2")
    assert bokeh_patch.apply() is True
    assert HasProps.query_properties_with_values is bokeh_patch.query_properties_with_values
    assert model_util.visit_immediate_value_references is bokeh_patch.visit_immediate_value_references
    assert HasProps.__init__ is bokeh_patch.has_props_init
    assert PropertyDescriptor._get_default is bokeh_patch.get_default


def _normalised(doc: Document) -> str:
    """The document's JSON with model ids numbered by first appearance (two builds of one page
    differ only in the ids Bokeh and Panel hand out)."""
    ids: dict[str, int] = {}
    text = re.sub(r"""(['"])(p\d+)\1""", lambda m: "'m%d'" % ids.setdefault(m.group(2), len(ids)), _json(doc))
    text = re.sub(r"__ref:p\d+", "__ref:#", text)  # Panel's references to its own objects
    return re.sub(r"""(['"][A-Z][A-Za-z]*)\d{5}(['"])""", r"\1#\2", text)  # Panel's numbered names


def _read(model: HasProps, name: str) -> str:
    try:
        return repr(getattr(model, name))
    except UnsetValueError:  # a required property nobody set
        return "unset"


def test_models_are_made_the_same_with_and_without_the_patch(data, demo_db, monkeypatch):
    def build() -> list[str]:
        who = session()
        player = PlayerState(data=data, session=who, player_id=busiest_player(demo_db)["player_id"])
        docs = [_document(PlayerPage(player=player, search=PlayerSearch(data=data, session=who))),
                _document(OverviewPage(overview=OverviewState(data=data, session=who)))]
        return [_normalised(doc) for doc in docs]

    def patched(on: bool) -> None:
        monkeypatch.setattr(HasProps, "__init__", bokeh_patch.has_props_init if on else bokeh_patch.ORIGINAL_INIT)
        monkeypatch.setattr(PropertyDescriptor, "_get_default",
                            bokeh_patch.get_default if on else bokeh_patch.ORIGINAL_GET_DEFAULT)
        bokeh_patch._STABLE.clear()

    patched(False)
    before = build()
    patched(True)
    assert build() == before
    assert build() == before  # and again, with the defaults kept by the first build
    # every model class the pages used: the same unstable defaults filled in, the same values set,
    # the same value read for every property
    classes = {type(m) for m in _document(OverviewPage(overview=OverviewState(data=data, session=session()))).models}
    for cls in classes:
        made = []
        for on in (False, True, True):
            patched(on) if len(made) < 2 else None
            model = cls()
            values = {name: _read(model, name) for name in sorted(model.properties())}
            made.append((sorted(model._property_values), sorted(model._unstable_default_values), values))
        assert made[0] == made[1] == made[2], cls


def test_a_theme_still_overrides_the_kept_defaults(monkeypatch):
    from bokeh.models import Title
    from bokeh.themes import Theme

    monkeypatch.setattr(PropertyDescriptor, "_get_default", bokeh_patch.get_default)
    plain = Title()
    assert plain.text_font_size == "13px"  # Bokeh's default, now kept for the class
    doc = Document()
    doc.theme = Theme(json={"attrs": {"Title": {"text_font_size": "20pt"}}})
    themed = Title()
    doc.add_root(themed)
    assert themed.text_font_size == "20pt"
    assert Title().text_font_size == plain.text_font_size == "13px"
