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

import pandas as pd  # noqa: E402
import plotly.graph_objects as go  # noqa: E402
import streamlit as st  # noqa: E402
from pydantic import ValidationError  # noqa: E402

from dashboard import guard, loaders, state, widgets  # noqa: E402
from pipeline.playlist import (  # noqa: E402
    EXPORTERS,  # noqa: E402
    PlaylistRequest,
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


def _range(label: str, lo: float, hi: float, key: str, step: float, fmt: str | None = None):
    """A range slider; returns None when it spans everything (no filter)."""
    value = st.slider(label, lo, hi, (lo, hi), step=step, key=key, format=fmt)
    return None if tuple(value) == (lo, hi) else (float(value[0]), float(value[1]))


def _generate(index, req: PlaylistRequest) -> None:
    try:
        with st.spinner("Building the playlist…"):
            st.session_state[state.PLAYLIST] = generate_playlist(index, req)
    except (ValueError, KeyError) as exc:
        st.error(f"The playlist could not be built: {exc}")


st.title("Playlist builder")
index = guard.require_index()
tracks = index.tracks
selection = st.session_state.get(state.MAP_SELECTION) or []
options = loaders.cluster_options(index)

left, mid, right = st.columns(3, gap="large")
with left:
    st.subheader("Sources")
    clusters = st.multiselect("Clusters", list(options), format_func=options.get,
                              key="pl_clusters", placeholder="Pick one or more clusters")
    use_sel = st.checkbox(f"Map selection ({len(selection)} tracks)", value=bool(selection),
                          disabled=not selection, key="pl_use_selection",
                          help="Lasso tracks on the Cluster map page to use them here.")
    use_seed = st.checkbox("Around a seed track", key="pl_use_seed")
    seed_track = (widgets.track_picker(index, "Seed track", key="pl_seed",
                                      default=st.session_state.get(state.SEED_TRACK))
                  if use_seed else None)
    use_path = st.checkbox("A path between two tracks across the map", key="pl_use_path")
    path = None
    if use_path:
        a = widgets.track_picker(index, "From", key="pl_path_a")
        b = widgets.track_picker(index, "To", key="pl_path_b")
        path = (a, b) if a and b else None

    st.subheader("Length")
    by_time = st.radio("Length by", ["tracks", "minutes"], horizontal=True, key="pl_len_by")
    if by_time == "tracks":
        length, minutes = st.number_input("Tracks", 1, 500, 25, key="pl_length"), None
    else:
        length, minutes = 25, float(st.number_input("Minutes", 5, 600, 60, key="pl_minutes"))

with mid:
    st.subheader("Filters")
    years = tracks["year"].dropna()
    y_lo, y_hi = int(years.min()), int(years.max())
    year_range = _range("Release years", y_lo, y_hi, "pl_years", 1)
    popularity_range = _range("Popularity", 0, 100, "pl_pop", 1)
    tempo_range = _range("Tempo (BPM)", 40, 220, "pl_tempo", 1)
    energy_range = _range("Energy", 0.0, 1.0, "pl_energy", 0.05)
    known = int(tracks["explicit"].notna().sum()) if "explicit" in tracks else 0
    exclude_explicit = st.checkbox(
        "Exclude explicit tracks", key="pl_explicit", disabled=known == 0,
        help=("Only where the catalog says so" if known else
              "This catalog does not say which tracks are explicit."))
with right:
    st.subheader("Rules")
    c = st.columns(2)
    max_per_artist = c[0].number_input("Max per artist", 1, 50, 2, key="pl_max_artist",
                                       help="At most this many tracks by one artist.")
    min_gap = c[1].number_input("Min artist gap", 0, 50, 3, key="pl_gap",
                                help="Other tracks between two tracks by the same artist.")
    st.caption("Releases of the same song never appear twice.")
    st.subheader("Ordering")
    ordering = st.selectbox("Order", list(ORDERINGS), format_func=ORDERINGS.get,
                            key="pl_ordering")
    curve_feature, curve = "energy", ()
    if ordering == "curve":
        curve_feature = st.radio("Curve of", ["energy", "tempo"], horizontal=True,
                                 key="pl_curve_feature")
        lo, hi, step, start = ((0.0, 1.0, 0.05, [0.3, 0.6, 0.9, 0.7, 0.4])
                               if curve_feature == "energy" else
                               (60.0, 200.0, 5.0, [90.0, 110.0, 130.0, 120.0, 100.0]))
        st.caption(f"Target {curve_feature} from the first to the last track (5 points).")
        cols = st.columns(5)
        curve = tuple(float(cols[i].number_input(f"{i + 1}", lo, hi, start[i], step,
                                                 key=f"pl_curve_{curve_feature}_{i}"))
                      for i in range(5))
    seed = st.number_input("Random seed", 0, 10_000, 42, key="pl_seed_n")

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
            _generate(index, req)

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

st.dataframe(df[[c for c in SHOW_COLS if c in df]], hide_index=True, width="stretch",
             column_config={"spotify_url": st.column_config.LinkColumn("Spotify", display_text="open"),
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
title = st.text_input("Playlist title", "Catalog Explorer playlist", key="pl_title")
cols = st.columns(len(EXPORTERS))
for col, (fmt, (fn, mime, ext)) in zip(cols, EXPORTERS.items()):
    col.download_button(EXPORT_LABELS.get(fmt, fmt), fn(result, title), key=f"pl_export_{fmt}",
                        file_name=f"playlist.{ext}" if fmt != "uris" else "playlist_uris.txt",
                        mime=mime, width="stretch")
st.caption("M3U8 lines carry #EXTINF and the Spotify track URL; the JSON recipe (sources, "
           "constraints, seed and cache version) regenerates this playlist.")
