"""Bokeh's work on model properties, without computing values it never uses or already knows.

Why: an unset property's value is its default, and Bokeh computes a default each time it is asked
(themed, copied and validated: 30-40 us), and four places ask about every property of every model:
- serialising a document (`HasProps.query_properties_with_values`) computes every property's value
  and only then drops those never set (Bokeh's own TODO says so): on the player page (about 180
  models) 80-85% of `Document.to_json`, 65-100 ms per page load, on the critical path (the browser
  waits for the document); only that call (no defaults, no undefined values) takes the fast loop,
  every other (`clone`, ...) Bokeh's own;
- collecting a document's models (`bokeh.model.util.visit_immediate_value_references`, run each
  time a document's models change) reads every property that may hold a model, set or not;
- making a model (`HasProps.__init__`) asks every property of it whether its default is unstable,
  although the answer depends on the class alone (the property and the class's overridden
  defaults; no theme applies before a model is in a document): 121 of the 2,525 py-spy samples of
  the server's event loop over 12 player page loads (about 5%). The answer is now kept per class;
- reading an unset property, and setting one (Bokeh compares the new value with the old, which is
  the default), computes the default anew each time (`PropertyDescriptor._get_default`): 626 of
  3,411 samples (18%) in the same profile after the previous change. Without a theme a default
  depends on the class alone, so an immutable one (None, a number, a string, a tuple of them) is
  now kept per class and property; containers and made-by-a-factory defaults are Bokeh's as before.
The versions here skip what cannot matter and are otherwise Bokeh's loops: an unset property whose
default is *stable* (Bokeh's word: not a container and not made by a factory, so never a model)
holds no model to visit and is never serialised.

One behaviour differs, on purpose: an unset *required* property of a model (a bug in the code
that built it) is no longer raised while serialising, it is left out. `tests/app/test_bokeh_patch.py`
checks that whole pages serialise identically and reach the same models with and without the
patch; it is applied only to the Bokeh versions that test ran on, so an upgrade falls back to
Bokeh's own loops until it is checked again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import bokeh
import bokeh.model.util as model_util
from bokeh.core.has_props import HasProps
from bokeh.core.property.descriptors import PropertyDescriptor
from bokeh.core.property.singletons import Intrinsic, Undefined
from bokeh.core.property.wrappers import PropertyValueContainer

CHECKED_VERSIONS = ("3.9.",)
ORIGINAL = HasProps.query_properties_with_values
ORIGINAL_VISIT = model_util.visit_immediate_value_references
ORIGINAL_INIT = HasProps.__init__
ORIGINAL_GET_DEFAULT = PropertyDescriptor._get_default
_UNSTABLE: dict[type, tuple[str, ...]] = {}  # class -> its properties whose default is unstable
_STABLE: dict[tuple[type, str], Any] = {}  # (class, property) -> its unthemed stable default
_MISSING = object()
_IMMUTABLE = (str, int, float, bool, type(None))


def query_properties_with_values(self: HasProps, query: Callable[[PropertyDescriptor[Any]], bool], *,
                                 include_defaults: bool = True, include_undefined: bool = False) -> dict[str, Any]:
    """Bokeh's `query_properties_with_values`, without computing values it then throws away."""
    if include_defaults or include_undefined:  # not serialisation (e.g. `clone`): Bokeh's own loop
        return ORIGINAL(self, query, include_defaults=include_defaults, include_undefined=include_undefined)
    selected = set(self._property_values) | set(self._unstable_default_values)
    themed_values = self.themed_values()
    themed = set(themed_values) if themed_values is not None else set()
    selected |= themed
    result: dict[str, Any] = {}
    for key in self.properties(_with_props=True):  # Bokeh's order, so the JSON is the same
        if key not in selected:
            continue
        descriptor = self.lookup(key)
        if not query(descriptor):
            continue
        value = descriptor.get_value(self)  # an unset required property raises, as in Bokeh's loop
        if key not in themed and isinstance(value, PropertyValueContainer) and key in self._unstable_default_values:
            continue
        result[key] = value
    return result


def visit_immediate_value_references(value: Any, visitor: Callable[[Any], None]) -> None:
    """Bokeh's `visit_immediate_value_references`, without the defaults that hold no model."""
    if not isinstance(value, HasProps):
        model_util.visit_value_and_its_immediate_references(value, visitor)
        return
    themed = value.themed_values() or {}
    for attr in value.properties_with_refs():
        if attr in value._property_values or attr in value._unstable_default_values \
                or attr in value._unstable_themed_values or attr in themed:
            model_util.visit_value_and_its_immediate_references(getattr(value, attr), visitor)


def has_props_init(self: HasProps, **properties: Any) -> None:
    """Bokeh's `HasProps.__init__`, asking which defaults are unstable once per class."""
    super(HasProps, self).__init__()
    self._property_values = {}
    self._unstable_default_values = {}
    self._unstable_themed_values = {}
    for name, value in properties.items():
        if value is Undefined or value is Intrinsic:
            continue
        setattr(self, name, value)
    cls = type(self)
    unstable = _UNSTABLE.get(cls)
    if unstable is None:  # Bokeh's order (deterministic), as its own loop
        unstable = _UNSTABLE[cls] = tuple(name for name in self.properties(_with_props=True)
                                          if self.lookup(name).has_unstable_default(self))
    for name in unstable:
        if name not in properties:
            self.lookup(name)._get(self)  # fills in `_unstable_default_values`
    self._initialized = True


def _immutable(value: Any) -> bool:
    return isinstance(value, _IMMUTABLE) or (isinstance(value, tuple) and all(_immutable(v) for v in value))


def get_default(self: PropertyDescriptor[Any], obj: HasProps) -> Any:
    """Bokeh's `PropertyDescriptor._get_default`, keeping a class's unthemed immutable defaults."""
    name = self.name
    themed = obj.themed_values()
    if name in obj._property_values or (themed is not None and name in themed):
        return ORIGINAL_GET_DEFAULT(self, obj)  # an internal error, or a theme's value: Bokeh's path
    if name in obj._unstable_default_values:
        return obj._unstable_default_values[name]
    key = (type(obj), name)
    value = _STABLE.get(key, _MISSING)
    if value is _MISSING:
        value = ORIGINAL_GET_DEFAULT(self, obj)
        if name not in obj._unstable_default_values and _immutable(value):
            _STABLE[key] = value
    return value


def apply() -> bool:
    """Install the faster versions if this Bokeh is one they were checked on; True when installed."""
    if not bokeh.__version__.startswith(CHECKED_VERSIONS):
        return False
    HasProps.query_properties_with_values = query_properties_with_values  # type: ignore[method-assign]
    HasProps.__init__ = has_props_init  # type: ignore[method-assign]
    PropertyDescriptor._get_default = get_default  # type: ignore[method-assign]
    model_util.visit_immediate_value_references = visit_immediate_value_references
    return True
