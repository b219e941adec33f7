"""Session-state keys shared between pages, and widget state that survives page changes
and lives in the URL.

Plain keys, not widget keys, so that they survive moving between pages.

Streamlit forgets a widget's value when a run does not draw it (another page), and a link
carries only its query parameters. ``restore`` (before the widget) sets the widget's value
from the URL (a shared link), else from the copy ``keep`` saved on the last visit, else the
default; ``keep`` (after the widget) saves that copy and writes the value to the URL.
"""
from __future__ import annotations

from typing import Any, Callable

import streamlit as st

MAP_SELECTION = "map_selection"        # list[str] of track ids selected on the map
PLAYLIST = "current_playlist"          # dict(tracks=records, smoothness, report, recipe)
SEED_TRACK = "seed_track"              # track id chosen on the recommendations page
KEPT = "_kept_"                        # prefix of the saved copies of widget values


def restore(key: str, default: Any, param: str | None = None,
            parse: Callable[[list[str]], Any] | None = None) -> Any:
    """Give widget ``key`` its value before it is drawn (the widget must then be created
    without a default of its own). ``parse`` turns the parameter's values (a list of
    strings) into a widget value and raises ValueError/KeyError/TypeError if they are not
    valid; an invalid parameter is ignored."""
    ss = st.session_state
    if key in ss:
        return ss[key]
    value = ss.get(KEPT + key, default)
    if param and param in st.query_params:
        try:
            value = (parse or (lambda v: v[0]))(st.query_params.get_all(param))
        except (ValueError, KeyError, TypeError, IndexError):
            pass
    ss[key] = value
    return value


def keep(key: str, param: str | None = None, dump: Callable[[Any], Any] = str,
         default: Any = None) -> None:
    """Save widget ``key``'s value for the next visit and, with ``param``, put it in the URL
    (removed from the URL when it equals ``default`` or is empty)."""
    value = st.session_state.get(key)
    st.session_state[KEPT + key] = value
    if not param:
        return
    if value is None or value == default or (isinstance(value, (list, tuple)) and not value):
        if param in st.query_params:
            del st.query_params[param]
        return
    text = dump(value)
    if st.query_params.get_all(param) != (text if isinstance(text, list) else [text]):
        st.query_params[param] = text
