"""Playlist builder: sources (clusters, map selection, seed track, path between two tracks),
length or duration, filters, artist rules, ordering; ordered list, smoothness and exports.
The engine is ``pipeline.playlist``; exports come from ``pipeline.exports``."""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # AppTest and `streamlit run` only add the script's folder
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import plotly.graph_objects as go  # noqa: E402
import streamlit as st  # noqa: E402
from pydantic import ValidationError  # noqa: E402

from dashboard import guard, loaders, state, widgets  # noqa: E402
from pipeline.playlist import (  # noqa: E402
    EXPORTERS,  # noqa: E402
    PlaylistRequest,
    curve_from_points,
    generate_playlist,
    recipe_mismatch,
    request_from_recipe,
)

ORDERINGS = {"smooth": "Smooth transitions", "energy_arc": "Energy arc (build up, wind down)",
             "tempo": "By tempo (slow to fast)", "curve": "Follow a curve I draw"}
EXPORT_LABELS = {"csv": "CSV", "m3u8": "M3U8", "xspf": "XSPF", "uris": "Spotify URIs",
                 "json": "JSON recipe"}
SHOW_COLS = ["position", "track_name", "artist", "year", "genre", "cluster", "energy", "tempo",
             "valence", "popularity", "transition_similarity", "spotify_url"]


CURVE_DEFAULTS = {"energy": (0.0, 1.0, [0.3, 0.6, 0.9, 0.7, 0.4]),
                  "tempo": (60.0, 200.0, [90.0, 110.0, 130.0, 120.0, 100.0])}
CURVE_SAMPLES = 11          # the drawn curve is resampled to this many evenly spaced points
RANGES = {"pl_years": "year_range", "pl_pop": "popularity_range", "pl_tempo": "tempo_range",
          "pl_energy": "energy_range"}


def _range(label: str, lo: float, hi: float, key: str, step: float, fmt: str | None = None):
    """A range slider; returns None when it spans everything (no filter)."""
    state.restore(key, (lo, hi))
    value = st.slider(label, lo, hi, step=step, key=key, format=fmt)
    return None if tuple(value) == (lo, hi) else (float(value[0]), float(value[1]))


def _generate(index, req: PlaylistRequest) -> None:
    try:
        with st.spinner("Building the playlist…"):
            st.session_state[state.PLAYLIST] = generate_playlist(index, req)
    except (ValueError, KeyError) as exc:
        st.error(f"The playlist could not be built: {exc}")


def _curve_table(feature: str, curve: tuple[float, ...] = ()) -> pd.DataFrame:
    """The editable curve: target values at positions (% of the playlist)."""
    values = list(curve) or CURVE_DEFAULTS[feature][2]
    at = np.linspace(0, 100, len(values)).round(1)
    return pd.DataFrame({"at %": at, feature: values})


def curve_from_table(table: pd.DataFrame, feature: str) -> tuple[float, ...]:
    lo, hi, _ = CURVE_DEFAULTS[feature]
    return curve_from_points(table["at %"].to_numpy(float), table[feature].to_numpy(float),
                             lo, hi, CURVE_SAMPLES)


def apply_recipe(index, req: PlaylistRequest) -> None:
    """Fill the form's widgets from a recipe's request (before they are drawn)."""
    ss = st.session_state
    options = loaders.cluster_options(index)
    ss["pl_clusters"] = [c for c in req.clusters if c in options]
    ss["pl_use_selection"] = bool(req.track_ids)
    if req.track_ids:
        ss[state.MAP_SELECTION] = list(req.track_ids)
    ss["pl_use_seed"] = req.seed_track is not None
    if req.seed_track:
        ss["pl_seed_q"], ss["pl_seed_pick"] = "", req.seed_track
    ss["pl_use_path"] = req.path is not None
    if req.path:
        ss["pl_path_a_q"], ss["pl_path_a_pick"] = "", req.path[0]
        ss["pl_path_b_q"], ss["pl_path_b_pick"] = "", req.path[1]
    ss["pl_len_by"] = "minutes" if req.target_minutes is not None else "tracks"
    if req.target_minutes is not None:
        ss["pl_minutes"] = int(round(req.target_minutes))
    ss["pl_length"] = int(req.length)
    years = index.tracks["year"].dropna()
    full = {"pl_years": (int(years.min()), int(years.max())), "pl_pop": (0, 100),
            "pl_tempo": (40, 220), "pl_energy": (0.0, 1.0)}
    for key, field in RANGES.items():
        value = getattr(req, field)
        lo, hi = full[key]
        ss[key] = full[key] if value is None else (type(lo)(value[0]), type(hi)(value[1]))
    ss["pl_explicit"] = req.exclude_explicit
    ss["pl_max_artist"], ss["pl_gap"] = int(req.max_per_artist), int(req.min_artist_gap)
    ss["pl_ordering"], ss["pl_curve_feature"] = req.ordering, req.curve_feature
    if req.ordering == "curve":
        ss[f"pl_curve_points_{req.curve_feature}"] = _curve_table(req.curve_feature, req.curve)
        ss.pop(f"pl_curve_{req.curve_feature}", None)
    ss["pl_seed_n"] = int(req.seed)


st.title("Playlist builder")
index = guard.require_index()
tracks = index.tracks
pending = st.session_state.pop("pl_pending_recipe", None)
if pending is not None:
    apply_recipe(index, pending)
    _generate(index, pending)
    st.success("The form now holds the recipe's settings, and the playlist below is "
               "regenerated from them.")
selection = st.session_state.get(state.MAP_SELECTION) or []
options = loaders.cluster_options(index)


def _short_label(c: int) -> str:
    """A chip-sized label: "7 · energetic, loud-mastered" (the full name is listed below)."""
    words = options[c].split(" · ")
    text = " · ".join(words[:2])
    return text if len(text) <= 30 else text[:29] + "…"


left, mid, right = st.columns(3, gap="large")
with left:
    st.subheader("Sources")
    state.restore("pl_clusters", [], "cluster",
                  lambda v: [c for c in map(int, v) if c in options] or [][0])
    clusters = st.multiselect("Clusters", list(options), format_func=_short_label,
                              key="pl_clusters", placeholder="Pick one or more clusters")
    state.keep("pl_clusters", "cluster", lambda v: [str(x) for x in v])
    if clusters:
        st.markdown("\n".join(f"- {options[c]}" for c in clusters))
    state.restore("pl_use_selection", bool(selection))
    use_sel = st.checkbox(f"Map selection ({len(selection)} tracks)",
                          disabled=not selection, key="pl_use_selection",
                          help="Lasso tracks on the Cluster map page to use them here.")
    state.restore("pl_use_seed", "seed" in st.query_params)
    use_seed = st.checkbox("Around a seed track", key="pl_use_seed",
                           help="The seed plays first; its nearest tracks in the embedding "
                                "fill the rest (more of them for a longer request).")
    seed_track = (widgets.track_picker(index, "Seed track", key="pl_seed",
                                      default=st.session_state.get(state.SEED_TRACK),
                                      param="seed")
                  if use_seed else None)
    if not use_seed and "seed" in st.query_params:
        del st.query_params["seed"]
    state.restore("pl_use_path", "from" in st.query_params and "to" in st.query_params)
    use_path = st.checkbox("A path between two tracks across the map", key="pl_use_path",
                           help="From A to B in steps: each step moves energy, mood and "
                                "danceability a bounded amount towards B.")
    path = None
    if use_path:
        a = widgets.track_picker(index, "From", key="pl_path_a", param="from")
        b = widgets.track_picker(index, "To", key="pl_path_b", param="to")
        path = (a, b) if a and b else None

    st.subheader("Length")
    state.restore("pl_len_by", "tracks")
    state.restore("pl_length", 25)
    state.restore("pl_minutes", 60)
    by_time = st.radio("Length by", ["tracks", "minutes"], horizontal=True, key="pl_len_by")
    if by_time == "tracks":
        length, minutes = st.number_input("Tracks", 1, 500, key="pl_length"), None
    else:
        length, minutes = 25, float(st.number_input("Minutes", 5, 600, key="pl_minutes"))
        st.caption("The candidate pool grows with the minutes asked for; tracks are added "
                   "until the total is within a minute of the target.")

with mid:
    st.subheader("Filters")
    years = tracks["year"].dropna()
    y_lo, y_hi = int(years.min()), int(years.max())
    year_range = _range("Release years", y_lo, y_hi, "pl_years", 1)
    popularity_range = _range("Popularity", 0, 100, "pl_pop", 1)
    tempo_range = _range("Tempo (BPM)", 40, 220, "pl_tempo", 1)
    energy_range = _range("Energy", 0.0, 1.0, "pl_energy", 0.05)
    known = int(tracks["explicit"].notna().sum()) if "explicit" in tracks else 0
    state.restore("pl_explicit", False)
    exclude_explicit = st.checkbox(
        "Exclude explicit tracks", key="pl_explicit", disabled=known == 0,
        help=("Only where the catalog says so" if known else
              "This catalog does not say which tracks are explicit."))
with right:
    st.subheader("Rules")
    c = st.columns(2)
    state.restore("pl_max_artist", 2)
    state.restore("pl_gap", 3)
    max_per_artist = c[0].number_input("Max per artist", 1, 50, key="pl_max_artist",
                                       help="At most this many tracks by one artist.")
    min_gap = c[1].number_input("Min artist gap", 0, 50, key="pl_gap",
                                help="Other tracks between two tracks by the same artist.")
    st.caption("Releases of the same song never appear twice.")
    st.subheader("Ordering")
    ordering = st.selectbox("Order", list(ORDERINGS), format_func=ORDERINGS.get,
                            key="pl_ordering")
    curve_feature, curve = "energy", ()
    if ordering == "curve":
        curve_feature = st.radio("Curve of", ["energy", "tempo"], horizontal=True,
                                 key="pl_curve_feature")
        lo, hi, _ = CURVE_DEFAULTS[curve_feature]
        st.caption(f"Shape the {curve_feature} curve: each row is a point (where in the "
                   f"playlist, 0-100 %, and the target {curve_feature}). Edit values, add or "
                   "delete rows; the chart shows the curve the playlist will follow.")
        points_key = f"pl_curve_points_{curve_feature}"
        if points_key not in st.session_state:
            st.session_state[points_key] = _curve_table(curve_feature)
        table = st.data_editor(
            st.session_state[points_key], key=f"pl_curve_{curve_feature}", num_rows="dynamic",
            hide_index=True, width="stretch",
            column_config={"at %": st.column_config.NumberColumn(min_value=0, max_value=100,
                                                                 step=5, format="%d %%"),
                           curve_feature: st.column_config.NumberColumn(
                               min_value=lo, max_value=hi,
                               step=0.05 if curve_feature == "energy" else 5.0)})
        curve = curve_from_table(table, curve_feature)
        preview = go.Figure()
        preview.add_scatter(x=np.linspace(0, 100, len(curve)), y=list(curve), mode="lines",
                            name="curve", line_shape="spline")
        pts = table.dropna()
        preview.add_scatter(x=pts["at %"], y=pts[curve_feature], mode="markers",
                            name="your points", marker_size=9)
        preview.update_layout(height=200, margin=dict(l=10, r=10, t=10, b=10),
                              showlegend=False, xaxis_title="% of the playlist",
                              yaxis=dict(title=curve_feature, range=[lo, hi]))
        st.plotly_chart(preview, width="stretch", key="pl_curve_preview",
                        config=widgets.plotly_config("playlist_curve_target"))
        if not curve:
            st.warning("The curve needs at least two points.")
    state.restore("pl_seed_n", 42)
    seed = st.number_input("Random seed", 0, 10_000, key="pl_seed_n")

sources_given = bool(clusters or (use_sel and selection) or seed_track or path)
if st.button("Build playlist", type="primary", key="pl_build", disabled=not sources_given):
    try:
        req = PlaylistRequest(
            clusters=tuple(int(x) for x in clusters),
            track_ids=tuple(selection) if use_sel else (), seed_track=seed_track, path=path,
            length=int(length), target_minutes=minutes, year_range=year_range,
            popularity_range=popularity_range, tempo_range=tempo_range,
            energy_range=energy_range, exclude_explicit=exclude_explicit,
            max_per_artist=int(max_per_artist), min_artist_gap=int(min_gap),
            ordering=ordering, curve_feature=curve_feature, curve=curve, seed=int(seed))
    except ValidationError as exc:
        st.error("The playlist settings are not valid: "
                 + "; ".join(e["msg"] for e in exc.errors()))
    else:
        _generate(index, req)
if not sources_given:
    st.caption("Pick at least one source: a cluster, the map selection, a seed track or a path.")

with st.expander("Regenerate from a JSON recipe"):
    st.caption("Load a recipe exported below: the form takes its settings and the playlist "
               "is rebuilt from them.")
    up = st.file_uploader("Recipe (.json)", type=["json"], key="pl_recipe")
    if up is not None and st.button("Regenerate", key="pl_regen"):
        try:
            recipe = json.loads(up.getvalue().decode("utf-8"))
            req = request_from_recipe(recipe)
        except (ValueError, UnicodeDecodeError) as exc:
            st.error(f"{up.name}: not a playlist recipe ({exc}).")
        else:
            for problem in recipe_mismatch(recipe, index):
                st.warning(f"The recipe was made from another cache; the playlist may differ. "
                           f"{problem}")
            st.session_state["pl_pending_recipe"] = req
            if recipe.get("title"):
                st.session_state["pl_title"] = str(recipe["title"])
            st.rerun()

result = st.session_state.get(state.PLAYLIST)
if result is None:
    st.info("No playlist yet: choose sources and press **Build playlist**.")
    st.stop()

st.divider()
st.subheader("Your playlist")
df = result.tracks
rep = result.report
m = st.columns(4)
m[0].metric("Tracks", f"{rep.get('delivered', len(df))}", help=f"Requested {rep.get('requested')}")
m[1].metric("Duration", f"{rep.get('delivered_minutes', 0):.0f} min")
m[2].metric("Transition smoothness", "–" if pd.isna(result.smoothness)
            else f"{result.smoothness:.3f}",
            help="Mean cosine similarity between consecutive tracks in the embedding "
                 "(1 = identical neighbours).")
m[3].metric("Candidates", f"{rep.get('candidates', 0):,}")
for note in rep.get("notes", []):
    st.warning(note)
removed = {k: v for k, v in (rep.get("removed_by") or {}).items() if v}
if removed:
    st.caption("Removed from the candidates: "
               + ", ".join(f"{k} {v:,}" for k, v in sorted(removed.items(), key=lambda kv: -kv[1])))

shown = widgets.with_youtube(widgets.integers_as_integers(df[[c for c in SHOW_COLS if c in df]]))
st.dataframe(shown, hide_index=True, width="stretch",
             column_config={"spotify_url": st.column_config.LinkColumn("Spotify", display_text="open"),
                            "youtube_url": widgets.YOUTUBE_COLUMN,
                            "energy": st.column_config.NumberColumn(format="%.2f"),
                            "valence": st.column_config.NumberColumn(format="%.2f"),
                            "tempo": st.column_config.NumberColumn(format="%.0f"),
                            "transition_similarity": st.column_config.ProgressColumn(
                                "transition", min_value=0.0, max_value=1.0, format="%.2f")})

fig = go.Figure()
fig.add_scatter(x=df["position"], y=df["energy"], name="energy", mode="lines+markers")
fig.add_scatter(x=df["position"], y=df["tempo"], name="tempo (BPM)", yaxis="y2",
                mode="lines+markers")
fig.update_layout(title="Energy and tempo along the playlist", height=300,
                  xaxis_title="position", yaxis=dict(title="energy", range=[0, 1]),
                  yaxis2=dict(title="tempo", overlaying="y", side="right"),
                  legend=dict(orientation="h", y=1.12), margin=dict(l=10, r=10, t=50, b=10))
st.plotly_chart(fig, width="stretch", config=widgets.plotly_config("playlist_curve"),
                key="pl_curve_chart")

st.subheader("Export")
state.restore("pl_title", "Catalog Explorer playlist")
title = st.text_input("Playlist title", key="pl_title")
stem = widgets.safe_filename(title)
cols = st.columns(len(EXPORTERS))
for col, (fmt, (fn, mime, ext)) in zip(cols, EXPORTERS.items()):
    # Made when clicked, not on every rerun of the page (five exports per run).
    col.download_button(EXPORT_LABELS.get(fmt, fmt), lambda fn=fn: fn(result, title),
                        key=f"pl_export_{fmt}",
                        file_name=f"{stem}.{ext}" if fmt != "uris" else f"{stem}_uris.txt",
                        mime=mime, width="stretch")
st.caption(f"Files are named after the title: `{stem}.csv`, `{stem}.m3u8`, …")
st.caption("M3U8 lines carry #EXTINF and the Spotify track URL; the JSON recipe (sources, "
           "constraints, seed and cache version) regenerates this playlist.")
