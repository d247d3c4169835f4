"""Panel's design resolves its theme's stylesheet path on every read, at the price of a deepcopy.

Why: `Design._get_modifiers` reads `theme.base_css` each time a component's properties are
computed (every model made, and every busy-indicator change in every open session). The parameter
is a `param.Filename`, which resolves the path on each read through `param.resolve_path`, a
`ParameterizedFunction` whose instantiation deep-copies its search paths: 171 of the 2,525 py-spy
samples of the server's event loop over 12 player page loads (about 7%). Panel's theme stylesheets
are absolute paths inside the installed package; resolving one gives the same answer every time,
so the answer is kept (per path) for `Filename` parameters of Panel's `Theme` classes only, and
only for absolute paths. Every other `Filename` parameter resolves as param does.

Applied only to the Panel versions `tests/app/test_panel_patch.py` ran on.
"""

from __future__ import annotations

import os
from typing import Any

import panel
import param.parameters as pp
from panel.theme.base import Theme

CHECKED_VERSIONS = ("1.9.",)
ORIGINAL_RESOLVE = pp.Filename._resolve
_RESOLVED: dict[str, Any] = {}


def resolve(self: pp.Filename, path: Any) -> Any:
    """`Filename._resolve`, kept per path for the absolute stylesheet paths of Panel's themes."""
    owner = self.owner
    if not (isinstance(owner, type) and issubclass(owner, Theme)):
        return ORIGINAL_RESOLVE(self, path)
    key = os.fspath(path)
    if not os.path.isabs(key):
        return ORIGINAL_RESOLVE(self, path)
    if key not in _RESOLVED:
        _RESOLVED[key] = ORIGINAL_RESOLVE(self, path)  # a missing file raises, and is not kept
    return _RESOLVED[key]


def apply() -> bool:
    """Install the kept resolution if this Panel is one it was checked on; True when installed."""
    if not panel.__version__.startswith(CHECKED_VERSIONS):
        return False
    pp.Filename._resolve = resolve  # type: ignore[method-assign]
    return True
