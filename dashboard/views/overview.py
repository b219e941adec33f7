"""Overview: catalog size and sources, the last build's data-quality report and metrics,
and a rebuild button with live progress (the orchestrator runs; the page trains nothing)."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # AppTest and `streamlit run` only add the script's folder
    sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from dashboard import changes, guard, loaders, widgets  # noqa: E402

SILHOUETTE_WORDS = ((0.5, "well separated"), (0.25, "clearly separated, with some overlap"),
                    (0.0, "weakly separated"))


def _silhouette_word(v: float) -> str:
    """Kaufman & Rousseeuw's reading of a mean silhouette."""
    return next((w for cut, w in SILHOUETTE_WORDS if v >= cut), "not separated")


def _playlist_agreement(clu: dict) -> str:
    """One sentence: the clusters' AMI with the playlists' genres and subgenres vs k-means."""
    ami = clu.get("playlist_ami") or {}
    parts = [f"{name}: AMI {a['clusters']:.2f} (k-means {a['kmeans']:.2f})"
             for name, a in (("genres", ami.get("genre")), ("subgenres", ami.get("subgenre")))
             if a]
    if not parts:
        return ""
    return (" How well the clusters match the playlists' " + "; ".join(parts) +
            " — 0 is no relation, 1 the same grouping; unclustered tracks count at their "
            "nearest cluster.")


def verdict(m: dict) -> tuple[str, list[str]]:
    """("good" / "usable" / "poor", plain sentences) for a build's metrics."""
    cat, clu, emb = m.get("catalog", {}), m.get("clusters", {}), m.get("embedding", {})
    notes, score = [], 0
    val = emb.get("validation") or {}
    if val:
        gain = val.get("value", 0) / max(val.get("raw_features_baseline", 0), 1e-9)
        notes.append(f"**Similar tracks:** for a held-out playlist track, the learned map finds "
                     f"another track of the same playlist among its 10 nearest "
                     f"{val.get('value', 0):.0%} of the time — {gain:.1f}× as often as raw "
                     "audio features do.")
        score += gain >= 1.2
    sil, clustered = clu.get("silhouette"), 1 - clu.get("noise_share", 0)
    km = (clu.get("kmeans_baseline") or {}).get("silhouette")
    if sil is not None:
        text = (f"**Clusters:** {clu.get('n_clusters', '?')} clusters hold {clustered:.0%} of "
                f"the tracks; on the map they are {_silhouette_word(sil)} "
                f"(silhouette {sil:.2f} of 1).")
        if km is not None:
            text += (f" k-means with as many clusters scores {km:.2f} on the same map — "
                     "same space, same number of sampled tracks, but k-means must place every "
                     "track while HDBSCAN leaves the ambiguous ones unclustered, so read it "
                     "as a rough comparison.")
        notes.append(text + _playlist_agreement(clu))
        score += sil >= 0.25 and clustered >= 0.5
    rejected = cat.get("rejected_rows", 0)
    notes.append(f"**Input:** {cat.get('rows_read', 0):,} rows read, {rejected:,} rejected.")
    score += rejected <= 0.01 * max(cat.get("rows_read", 1), 1)
    return ("good" if score >= 3 else "usable" if score >= 2 else "poor"), notes


st.title("Catalog overview")
index = guard.require_index()
m = index.metrics
cat, clu, emb = m.get("catalog", {}), m.get("clusters", {}), m.get("embedding", {})
t = index.tracks

years = t["year"].dropna()
genres = t["genre"].astype("string").fillna("unknown").value_counts()
files = index.manifest.get("catalog", [])
st.markdown(
    f"**{cat.get('tracks', len(t)):,} tracks** by {t['artist'].nunique():,} artists, released "
    f"{int(years.min())}–{int(years.max())} (half of them from {int(years.quantile(0.5))} on), "
    f"in {len(genres)} genres: " + ", ".join(f"{g} {n:,}" for g, n in genres.head(8).items())
    + (f" and {len(genres) - 8} more" if len(genres) > 8 else "") + ". "
    + (f"From {len(files)} file{'s' if len(files) != 1 else ''} "
       f"({', '.join(Path(str(f.get('path', '?'))).name for f in files)})" if files else "")
    + (f", with {cat.get('playlists', 0):,} playlists." if cat.get("playlists") else "."))

level, notes = verdict(m)
box = {"good": st.success, "usable": st.info, "poor": st.warning}[level]
box({"good": "This build is good to explore: ",
     "usable": "This build is usable, with caveats: ",
     "poor": "This build is weak; check the input before relying on it: "}[level]
    + " ".join(notes[:1]), icon=":material/fact_check:")
for note in notes[1:]:
    st.markdown(note)

head, change_notes = changes.summary(index.changes or {})
if head:
    st.subheader("What changed since the previous build")
    st.markdown(head)
    for note in change_notes:
        st.markdown(f"- {note}")
    moved = changes.cluster_table(index.changes, loaders.cluster_names(index))
    if len(moved):
        with st.expander(f"Clusters that changed ({len(moved)})"):
            st.dataframe(moved, hide_index=True, width="stretch")

st.subheader("Build metrics")
c = st.columns(5)
c[0].metric("Tracks", f"{cat.get('tracks', len(t)):,}")
c[1].metric("Clusters", clu.get("n_clusters", "–"),
            help="Groups of tracks that sound alike; tracks in none of them are 'unclustered'.")
c[2].metric("Tracks in a cluster", f"{1 - clu.get('noise_share', 0):.0%}")
c[3].metric("Cluster separation", f"{clu.get('silhouette', float('nan')):.2f}",
            help="Silhouette on the map over clustered tracks: 1 = perfectly apart, 0 = "
                 "overlapping.")
val = emb.get("validation") or {}
c[4].metric("Playlist-mates found", f"{val.get('value', 0):.0%}" if val else "–",
            delta=(f"{100 * (val.get('value', 0) - val.get('raw_features_baseline', 0)):+.0f} "
                   "points vs audio features") if val else None,
            help="Share of held-out playlist tracks with a playlist-mate among their 10 "
                 "nearest tracks.")

st.subheader("What to do next")
st.markdown("- **Cluster map**: see the catalog as a map, search a track (typos are fine), "
            "lasso a region.\n"
            "- **Cluster browser**: what each cluster sounds like and its most typical tracks.\n"
            "- **Trends**: how features changed over the years, by genre or cluster.\n"
            "- **Playlist builder**: a playlist from clusters, a seed, a lassoed region or a "
            "path between two tracks; export it.\n"
            "- **Recommendations**: tracks like one you pick, with the reasons.")

st.subheader("Data quality of the last build")
q = st.columns(4)
q[0].metric("Rejected rows", f"{cat.get('rejected_rows', 0):,}")
q[1].metric("Duplicate ids merged", f"{cat.get('duplicate_ids_merged', 0):,}",
            help="The same track id listed in several playlists, merged into one track.")
q[2].metric("Same-song groups", f"{cat.get('same_song_groups', 0):,}",
            help="Releases of the same song (same title and artist) under different ids; "
                 "lists show one release per song.")
q[3].metric("Missing text filled", sum((cat.get("missing_text_filled") or {}).values()))
reasons = cat.get("reject_reasons") or {}
if reasons:
    st.dataframe(pd.DataFrame({"reason": list(reasons), "rows": list(reasons.values())}),
                 hide_index=True)
rejects_path = index.cache_dir / "rejects.csv"
rejects = pd.read_csv(rejects_path) if rejects_path.exists() else pd.DataFrame()
if len(rejects):
    with st.expander(f"Rejected rows ({len(rejects):,})", expanded=True):
        st.dataframe(rejects, hide_index=True, width="stretch")
        widgets.download_table(rejects, "rejected_rows")
else:
    st.success("No input rows were rejected.")

with st.expander("Developer details (metric names, checksums, paths, timings)"):
    if files:
        src = pd.DataFrame(files)
        src["schema"] = ", ".join(cat.get("schemas", []))
        st.dataframe(src, hide_index=True, width="stretch")
    st.caption(f"Cache: `{index.cache_dir}` · pipeline "
               f"{index.manifest.get('pipeline_version', '?')} · seed "
               f"{m.get('build', {}).get('seed', '?')}")
    dev = {"embedding": f"{emb.get('dim', '?')}-d, {emb.get('objective', '?')}",
           val.get("name", "validation"): val.get("value"),
           "raw_features_baseline": val.get("raw_features_baseline"),
           "silhouette": clu.get("silhouette"),
           "silhouette over": f"{clu.get('silhouette_points')} in "
                              f"{clu.get('silhouette_space', clu.get('space'))} space",
           "silhouette_in_embedding": clu.get("silhouette_in_embedding"),
           "kmeans_baseline": clu.get("kmeans_baseline"), "dbcv": clu.get("dbcv"),
           "hdbscan params": clu.get("params")}
    st.json({k: v for k, v in dev.items() if v is not None}, expanded=False)
    timings = m.get("timings_s") or {}
    if timings:
        tt = pd.DataFrame({"stage": list(timings), "seconds": list(timings.values())})
        st.markdown("**Build time by stage (seconds, last time each stage ran)**")
        st.bar_chart(tt, x="stage", y="seconds", horizontal=True, height=240, sort=False)
        st.caption(f"Total build time {sum(timings.values()):.0f} s; last run recomputed: "
                   f"{', '.join(index.manifest.get('last_run', {}).get('recomputed', [])) or 'nothing'}.")

st.subheader("Rebuild")
st.write("Re-run the pipeline on the configured catalog. Unchanged stages are reused.")
guard.build_panel(index.cache_dir, key="overview", confirm=True)
