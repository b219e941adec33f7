"""Recommendations: fuzzy search for a seed, hybrid recommendations with their reasons,
methods side by side, steering sliders, like/dislike feedback, Spotify links and player."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # AppTest and `streamlit run` only add the script's folder
    sys.path.insert(0, str(ROOT))

import logging  # noqa: E402

import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from dashboard import guard, loaders, search, state, widgets  # noqa: E402

MODES = {"hybrid": "Hybrid (content + playlists)", "content": "Sound only (content)",
         "by_genre": "Same genre, most similar"}
STEER = {"energy": (0.0, 1.0, 0.05), "valence": (0.0, 1.0, 0.05),
         "danceability": (0.0, 1.0, 0.05), "acousticness": (0.0, 1.0, 0.05),
         "tempo": (50.0, 220.0, 1.0), "popularity": (0.0, 100.0, 1.0)}
COMPARE = ["hybrid", "content", "by_genre", "embedding_knn", "cosine_raw", "cooccurrence",
           "popularity"]
PLAY = "rec_play_track"
log = logging.getLogger(__name__)


@st.cache_data(show_spinner=False, max_entries=64)
def _search(cache: str, mtime: float, query: str) -> pd.DataFrame:
    return loaders._load_recommender(cache, mtime).search(query, limit=12)


@st.cache_data(show_spinner="Finding recommendations…", max_entries=64)
def _recommend(cache: str, mtime: float, seed: str, k: int, mode: str, steer: tuple) -> pd.DataFrame:
    rec = loaders._load_recommender(cache, mtime)
    return rec.recommend(seed, k=k, mode=mode, steer=dict(steer) or None)


@st.cache_data(show_spinner="Running every method…", max_entries=16)
def _compare(cache: str, mtime: float, seed: str, k: int, methods: tuple) -> dict:
    return loaders._load_recommender(cache, mtime).compare(seed, k=k, methods=methods)


def _steering(index, seed: str) -> tuple:
    """Sliders that start at the seed's values; only the ones the user moved are passed on."""
    row = index.tracks.iloc[index.row(seed)]
    steer = []
    cols = st.columns(3)
    for i, (feat, (lo, hi, step)) in enumerate(STEER.items()):
        start = float(row[feat]) if pd.notna(row[feat]) else (lo + hi) / 2
        start = min(max(round(start / step) * step, lo), hi)
        val = cols[i % 3].slider(feat, lo, hi, start, step, key=f"rec_steer_{feat}_{seed}")
        if abs(val - start) > step / 2:
            steer.append((feat, float(val)))
    years = index.tracks["year"].dropna()
    y_lo, y_hi = int(years.min()), int(years.max())
    yr = cols[2].slider("release years", y_lo, y_hi, (y_lo, y_hi), key=f"rec_steer_years_{seed}")
    if tuple(yr) != (y_lo, y_hi):
        steer.append(("year_range", (int(yr[0]), int(yr[1]))))
    return tuple(steer)


def _feedback(rec, seed: str, track: str, value: int) -> None:
    try:
        rec.feedback(seed, track, value)
    except Exception as exc:  # noqa: BLE001 - feedback must never break the page
        st.toast(f"Could not store the feedback: {exc}")
        return
    _recommend.clear()
    st.toast("Thanks — noted." if value > 0 else "Got it — fewer like this.")


st.title("Recommendations")
index = guard.require_index()
rec = guard.require_recommender()
cache, mtime = loaders.build_key()

query = st.text_input("Search a track or artist", key="rec_search",
                      placeholder="fuzzy: e.g. 'bohemian rapsody' or 'daft pnk'")
seed = st.session_state.get(state.SEED_TRACK)
if query.strip():
    hits = _search(cache, mtime, query)
    if len(hits):
        ids = hits["track_id"].tolist()
        choice = st.selectbox(f"{len(ids)} matches, best first", ids, key="rec_choice",
                              format_func=lambda t: search.track_label(index, t))
        seed = choice
    else:
        st.info(f"Nothing in the catalog matches “{query}”.")
if not seed or seed not in index._row:
    st.info("Search for a track or artist to get recommendations.")
    st.stop()
if st.session_state.get(state.SEED_TRACK) != seed:
    st.session_state[state.SEED_TRACK] = seed
    st.session_state[PLAY] = seed

srow = index.tracks.iloc[index.row(seed)]
st.subheader(f"Because you picked: {search.track_label(index, seed)}")
st.caption(f"{srow['genre'] if pd.notna(srow['genre']) else 'genre unknown'} · energy "
           f"{srow['energy']:.2f} · tempo {srow['tempo']:.0f} BPM · valence {srow['valence']:.2f}"
           f" · [open on Spotify]({srow['spotify_url']})")

tab_rec, tab_cmp = st.tabs(["Recommendations", "Methods side by side"])
with tab_rec:
    c = st.columns([2, 1])
    mode = c[0].radio("Method", list(MODES), format_func=MODES.get, horizontal=True,
                      key="rec_mode")
    k = c[1].slider("How many", 5, 30, 10, key="rec_k")
    with st.expander("Steer: more energy, happier, faster…"):
        steer = _steering(index, seed)
    try:
        recs = _recommend(cache, mtime, seed, k, mode, steer)
    except (KeyError, ValueError) as exc:
        st.error(f"No recommendations: {exc}")
        st.stop()
    except Exception as exc:  # noqa: BLE001 - e.g. a ranker model from another build
        log.exception("recommend failed for %s", seed)
        st.error(f"The recommender failed on the cache at {cache} ({type(exc).__name__}: "
                 f"{exc}). The cache may come from another version: rebuild it on the "
                 "Overview page or with `make build`.")
        st.stop()
    for r in recs.itertuples():
        row = st.columns([0.5, 5, 1, 0.6, 0.6, 0.6])
        row[0].markdown(f"**{r.rank}**")
        row[1].markdown(f"**{r.track_name}** — {r.artist} ({'' if pd.isna(r.year) else int(r.year)})"
                        f"  \n<small>{r.why}</small>", unsafe_allow_html=True)
        row[2].markdown(f"[Spotify]({r.spotify_url})")
        # Votes are callbacks: they run before the rerun, so the list below shows them at once.
        row[3].button("", icon=":material/thumb_up:", key=f"rec_like_{r.track_id}",
                      help="Like: more like this for this seed", on_click=_feedback,
                      args=(rec, seed, r.track_id, +1))
        row[4].button("", icon=":material/thumb_down:", key=f"rec_dislike_{r.track_id}",
                      help="Dislike: not for this seed", on_click=_feedback,
                      args=(rec, seed, r.track_id, -1))
        if row[5].button("", icon=":material/play_arrow:", key=f"rec_play_{r.track_id}",
                         help="Play in the player below"):
            st.session_state[PLAY] = r.track_id
    widgets.download_table(recs, f"recommendations_{seed}", key="rec_dl")

with tab_cmp:
    c = st.columns([3, 1])
    methods = c[0].multiselect("Methods", COMPARE, default=COMPARE[:3], key="rec_cmp_methods",
                               help="hybrid = learned ranker over content and playlist "
                                    "signals; content = sound only; by_genre = same genre; "
                                    "embedding_knn / cosine_raw = nearest neighbours in the "
                                    "embedding / raw features; cooccurrence = shared playlists.")
    kc = c[1].slider("Per method", 5, 20, 10, key="rec_cmp_k")
    try:
        results = _compare(cache, mtime, seed, kc, tuple(methods)) if methods else {}
    except Exception as exc:  # noqa: BLE001 - show the reason, never a traceback
        log.exception("compare failed for %s", seed)
        st.error(f"Could not compare methods ({type(exc).__name__}): {exc}")
        results = {}
    items = list(results.items())
    for start in range(0, len(items), 3):
        cols = st.columns(3)
        for col, (name, df) in zip(cols, items[start:start + 3]):
            col.markdown(f"**{name}**")
            show = [c for c in ("track_name", "artist", "year", "score") if c in df]
            col.dataframe(df[show], hide_index=True, width="stretch", height=390,
                          column_config={"score": st.column_config.NumberColumn(format="%.2f")})
    if results:
        both = pd.concat([d.assign(method=n) for n, d in results.items()], ignore_index=True)
        widgets.download_table(both, f"methods_{seed}", key="rec_cmp_dl")

st.subheader("Listen")
play = st.session_state.get(PLAY, seed)
if play in index._row:
    st.caption(search.track_label(index, play))
    widgets.spotify_embed(play, index.tracks.iloc[index.row(play)]["uri"])
st.caption("The player loads from open.spotify.com when you are online.")
