"""Recommendations: fuzzy search for a seed, hybrid recommendations with their reasons,
methods side by side, steering sliders, per-profile like/dislike with undo, Spotify links
and player.

Catalog text (titles, artists, genres) is data, never markup: it is shown through ``_md``,
which escapes every Markdown character, and no element here allows HTML.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # AppTest and `streamlit run` only add the script's folder
    sys.path.insert(0, str(ROOT))

import logging  # noqa: E402
import re  # noqa: E402

import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from dashboard import guard, loaders, search, state, widgets  # noqa: E402

MODES = {"hybrid": "Hybrid (content + playlists)", "content": "Sound only (content)",
         "by_genre": "Same genre, most similar"}
STEER = {"energy": (0.0, 1.0, 0.05), "valence": (0.0, 1.0, 0.05),
         "danceability": (0.0, 1.0, 0.05), "acousticness": (0.0, 1.0, 0.05),
         "tempo": (50.0, 220.0, 1.0), "popularity": (0.0, 100.0, 1.0)}
METHODS = {"hybrid": "Hybrid (learned ranker)", "content": "Sound only",
           "by_genre": "Same genre", "embedding_knn": "Nearest in the learned embedding",
           "cosine_raw": "Nearest in raw audio features", "cooccurrence": "Shared playlists",
           "popularity": "Most popular"}
# One format per quantity, on the page and in its CSV downloads (decimals kept).
DECIMALS = {"score": 2, "content_similarity": 2, "feedback_shift": 2, "energy": 2,
            "valence": 2, "danceability": 2, "acousticness": 2}
WHOLE = ("year", "tempo", "popularity", "unsteered_rank")
PLAY = "rec_play_track"
TAB = "rec_tab"                 # the open tab (its label)
URL_SEED = "rec_url_seed"       # the seed the URL named last (a link wins once)
USER = "rec_user"
KEPT_USER = "rec_user_kept"   # a plain key: it survives visits to other pages
DEFAULT_USER = "everyone"
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$&])")
log = logging.getLogger(__name__)


def _md(text: object) -> str:
    """Catalog text for a Markdown element, shown literally: every character Markdown (or
    Streamlit's :colour[] / :icon: / $math$ syntax) would interpret is backslash-escaped."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


@st.cache_data(show_spinner=False, max_entries=64)
def _search(cache: str, mtime: float, query: str) -> pd.DataFrame:
    return loaders._load_recommender(cache, mtime).search(query, limit=12)


@st.cache_data(show_spinner="Finding recommendations…", max_entries=64)
def _recommend(cache: str, mtime: float, seed: str, k: int, mode: str, steer: tuple,
               votes: tuple) -> pd.DataFrame:
    """The votes are part of the key: a vote changes them, so the next run re-ranks."""
    rec = loaders._load_recommender(cache, mtime)
    return rec.recommend(seed, k=k, mode=mode, steer=dict(steer) or None, votes=dict(votes))


@st.cache_data(show_spinner="Running every method…", max_entries=16)
def _compare(cache: str, mtime: float, seed: str, k: int, methods: tuple) -> dict:
    return loaders._load_recommender(cache, mtime).compare(seed, k=k, methods=methods)


def formatted(df: pd.DataFrame) -> pd.DataFrame:
    """The table as the page and its CSV show it: whole numbers as integers (year 1970,
    not 1970.0), scores and 0-1 features with two decimals."""
    out = df.copy()
    for col, places in DECIMALS.items():
        if col in out:
            out[col] = out[col].astype(float).round(places)
    for col in WHOLE:
        if col in out:
            out[col] = pd.to_numeric(out[col], errors="coerce").round().astype("Int64")
    return out


def _profile() -> str:
    """Whose votes: a name in the sidebar (kept across pages); empty means "everyone"."""
    ss = st.session_state
    if USER not in ss:   # Streamlit drops a widget's value on other pages: restore the copy
        ss[USER] = ss.get(KEPT_USER, DEFAULT_USER)
    st.sidebar.text_input("Your profile (whose likes)", key=USER, max_chars=64,
                          help="Votes are stored per profile name. “everyone” is the shared "
                               "profile; type your own name to keep your own likes.")
    ss[KEPT_USER] = ss[USER]
    return ss[USER].strip() or DEFAULT_USER


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


def _vote(rec, seed: str, track: str, value: int, user: str, name: str) -> None:
    """A button callback: it runs before the rerun, so that run already ranks with it."""
    try:
        rec.feedback(seed, track, value, user)
    except Exception as exc:  # noqa: BLE001 - feedback must never break the page
        st.toast(f"Could not store the vote: {_md(exc)}")
        return
    done = {1: "Liked", -1: "Disliked", 0: "Vote undone for"}[value]
    st.toast(f"{done} “{_md(name)}” (profile {_md(user)}).")


def _steered_values(r: pd.Series, steered: list[str]) -> str:
    """"energy 0.25 · tempo 96 BPM": the row's values of the steered features."""
    unit = {"tempo": " BPM"}
    return " · ".join(f"{c} {r[c]:.2f}" if c in DECIMALS else f"{c} {r[c]}{unit.get(c, '')}"
                      for c in steered if pd.notna(r[c]))


def _row(r: pd.Series, rec, seed: str, user: str, steered: list[str]) -> None:
    """One recommendation: rank, title line, reason, its vote (with undo), link, play."""
    row = st.columns([0.5, 6, 1.1, 0.6, 0.6, 0.6], vertical_alignment="center")
    row[0].markdown(f"**{r['rank']}**")
    year = "" if pd.isna(r["year"]) else f" ({r['year']})"
    extra = _steered_values(r, steered)
    row[1].markdown(f"**{_md(r['track_name'])}** — {_md(r['artist'])}{_md(year)} · "
                    f"score {r['score']:.2f}" + (f" · {_md(extra)}" if extra else ""))
    row[1].caption(_md(r["why"]))
    sid = widgets.spotify_id(r["track_id"])
    # Links only from a validated id and percent-encoded text (never catalog markup).
    links = [f"[YouTube]({widgets.youtube_url(r['artist'], r['track_name'])})"]
    if sid:
        links.insert(0, f"[Spotify](https://open.spotify.com/track/{sid})")
    row[2].markdown(" · ".join(links))
    args = (rec, seed, r["track_id"])
    tail = (user, str(r["track_name"]))
    if r["feedback"] > 0:   # the vote shows as a filled thumb; clicking it takes it back
        row[3].button("", icon=":material/thumb_up:", key=f"rec_undo_{r['track_id']}",
                      type="primary", help="You liked it for this seed: click to undo",
                      on_click=_vote, args=(*args, 0, *tail))
    else:
        row[3].button("", icon=":material/thumb_up:", key=f"rec_like_{r['track_id']}",
                      help="Like: more like this for this seed", on_click=_vote,
                      args=(*args, 1, *tail))
    row[4].button("", icon=":material/thumb_down:", key=f"rec_dislike_{r['track_id']}",
                  help="Dislike: hide it and fewer like it for this seed",
                  on_click=_vote, args=(*args, -1, *tail))
    if row[5].button("", icon=":material/play_arrow:", key=f"rec_play_{r['track_id']}",
                     help="Play in the player below"):
        st.session_state[PLAY] = r["track_id"]


def _votes_panel(index, rec, seed: str, user: str, votes: dict[str, int]) -> None:
    """Every standing vote of this profile for this seed, each with an undo (disliked
    tracks are not in the list, so this is where their vote is seen and taken back)."""
    likes = sum(v > 0 for v in votes.values())
    with st.expander(f"Your votes for this seed (profile “{_md(user)}”): {likes} liked, "
                     f"{len(votes) - likes} disliked", expanded=False):
        if not votes:
            st.caption("No votes yet. A like lifts tracks that sound like the liked one; a "
                       "dislike hides the track and pushes tracks like it down.")
        for tid, value in votes.items():
            if tid not in index._row:
                continue
            c = st.columns([6, 1], vertical_alignment="center")
            label = search.track_label(index, tid)
            c[0].markdown(f"{':material/thumb_up:' if value > 0 else ':material/thumb_down:'} "
                          f"{_md(label)}")
            c[1].button("Undo", key=f"rec_undo_vote_{tid}", on_click=_vote,
                        args=(rec, seed, tid, 0, user, label))


def _recommendations_tab(index, rec, cache: str, mtime: float, seed: str, user: str) -> None:
    c = st.columns([2, 1])
    mode = c[0].radio("Method", list(MODES), format_func=MODES.get, horizontal=True,
                      key="rec_mode")
    k = c[1].slider("How many", 5, 30, 10, key="rec_k")
    with st.expander("Steer: more energy, happier, faster…"):
        steer = _steering(index, seed)
    votes = rec.votes(seed, user)   # read on every run: a vote from another tab counts too
    try:
        recs = formatted(_recommend(cache, mtime, seed, k, mode, steer,
                                    tuple(sorted(votes.items()))))
    except (KeyError, ValueError) as exc:
        st.error(f"No recommendations: {_md(exc)}")
        return
    except Exception as exc:  # noqa: BLE001 - e.g. a ranker model from another build
        log.exception("recommend failed for %s", seed)
        st.error(f"The recommender failed on the cache at {_md(cache)} ({type(exc).__name__}: "
                 f"{_md(exc)}). The cache may come from another version: rebuild it on the "
                 "Overview page or with `make build`.")
        return
    _votes_panel(index, rec, seed, user, votes)
    steered = [c for c, _ in steer if c in recs]
    st.caption("Score: how far above the average candidate for this seed (in standard "
               "deviations), after your votes and steering; one release per song.")
    for _, r in recs.iterrows():
        _row(r, rec, seed, user, steered)
    widgets.download_table(recs, f"recommendations_{seed}", key="rec_dl")


def _compare_tab(cache: str, mtime: float, seed: str) -> None:
    c = st.columns([3, 1])
    methods = c[0].multiselect("Methods", list(METHODS), default=list(METHODS)[:4],
                               format_func=METHODS.get, key="rec_cmp_methods",
                               help="Hybrid = the learned ranker over sound and playlist "
                                    "signals; sound only = the same ranker without playlists; "
                                    "the others are the baselines it is measured against.")
    kc = c[1].slider("Per method", 5, 20, 10, key="rec_cmp_k")
    st.caption("Each method as it is: your votes and the steering sliders apply only to the "
               "Recommendations tab. One release per song in every list.")
    try:
        results = _compare(cache, mtime, seed, kc, tuple(methods)) if methods else {}
    except Exception as exc:  # noqa: BLE001 - show the reason, never a traceback
        log.exception("compare failed for %s", seed)
        st.error(f"Could not compare methods ({type(exc).__name__}): {_md(exc)}")
        results = {}
    results = {m: formatted(df) for m, df in results.items()}
    items = list(results.items())
    config = {"track_name": st.column_config.TextColumn("track", width="medium"),
              "artist": st.column_config.TextColumn("artist", width="small"),
              "year": st.column_config.NumberColumn("year", format="%d", width=60),
              "score": st.column_config.NumberColumn("score", format="%.2f", width=60)}
    for start in range(0, len(items), 2):
        cols = st.columns(2)
        for col, (name, df) in zip(cols, items[start:start + 2]):
            col.markdown(f"**{METHODS[name]}**")
            col.dataframe(df[["track_name", "artist", "year", "score"]], hide_index=True,
                          width="stretch", height=390, column_config=config,
                          key=f"rec_cmp_table_{name}")
    if results:
        both = pd.concat([d.assign(method=n, method_name=METHODS[n])
                          for n, d in results.items()], ignore_index=True)
        widgets.download_table(both, f"methods_{seed}", key="rec_cmp_dl")


st.title("Recommendations")
index = guard.require_index()
rec = guard.require_recommender()
cache, mtime = loaders.build_key()
user = _profile()

query = st.text_input("Search a track or artist", key="rec_search",
                      placeholder="fuzzy: e.g. 'bohemian rapsody' or 'daft pnk'")
url_seed = st.query_params.get("seed")  # a shared link names its seed track
if url_seed in index._row and st.session_state.get(URL_SEED) != url_seed:
    st.session_state[state.SEED_TRACK] = url_seed
    st.session_state[URL_SEED] = url_seed
seed = st.session_state.get(state.SEED_TRACK)
if query.strip():
    hits = _search(cache, mtime, query)
    if len(hits):
        ids = hits["track_id"].tolist()
        choice = st.selectbox(f"{len(ids)} matches, best first", ids, key="rec_choice",
                              format_func=lambda t: search.track_label(index, t))
        seed = choice
    else:
        st.info(f"Nothing in the catalog matches “{_md(query)}”.")
if not seed or seed not in index._row:
    st.info("Search for a track or artist to get recommendations.")
    st.stop()
if st.session_state.get(state.SEED_TRACK) != seed:
    st.session_state[state.SEED_TRACK] = seed
    st.session_state[PLAY] = seed
if st.query_params.get("seed") != seed:  # the link reproduces this view
    st.query_params["seed"] = seed
    st.session_state[URL_SEED] = seed

srow = index.tracks.iloc[index.row(seed)]
st.subheader(f"Because you picked: {_md(search.track_label(index, seed))}")
sid = widgets.spotify_id(seed, srow["uri"] if pd.notna(srow["uri"]) else None)
st.caption(f"{_md(srow['genre']) if pd.notna(srow['genre']) else 'genre unknown'} · energy "
           f"{srow['energy']:.2f} · tempo {srow['tempo']:.0f} BPM · valence {srow['valence']:.2f}"
           + (f" · [open on Spotify](https://open.spotify.com/track/{sid})" if sid else ""))

# Lazy tabs: only the open tab is computed and sent (the methods side by side are four
# tables and four recommenders' runs that the browser would otherwise draw hidden).
tab_rec, tab_cmp = st.tabs(["Recommendations", "Methods side by side"], key=TAB,
                           on_change="rerun")
if tab_rec.open:
    with tab_rec:
        _recommendations_tab(index, rec, cache, mtime, seed, user)
if tab_cmp.open:
    with tab_cmp:
        _compare_tab(cache, mtime, seed)

st.subheader("Listen")
play = st.session_state.get(PLAY, seed)
if play in index._row:
    st.caption(_md(search.track_label(index, play)))
    widgets.spotify_embed(play, index.tracks.iloc[index.row(play)]["uri"])
st.caption("The player loads from open.spotify.com when you are online.")
