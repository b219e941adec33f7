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

from dashboard import guard, widgets  # noqa: E402

st.title("Catalog overview")
index = guard.require_index()
m = index.metrics
cat, clu, emb = m.get("catalog", {}), m.get("clusters", {}), m.get("embedding", {})

c = st.columns(5)
c[0].metric("Tracks", f"{cat.get('tracks', len(index.tracks)):,}")
c[1].metric("Rows read", f"{cat.get('rows_read', 0):,}")
c[2].metric("Playlists", f"{cat.get('playlists', 0):,}")
c[3].metric("Clusters", clu.get("n_clusters", "–"),
            help="HDBSCAN clusters; tracks in none of them are 'unclustered'.")
c[4].metric("Unclustered", f"{clu.get('noise_share', 0):.0%}")

files = index.manifest.get("catalog", [])
st.subheader("Sources")
if files:
    src = pd.DataFrame(files)
    src["schema"] = ", ".join(cat.get("schemas", []))
    st.dataframe(src, hide_index=True, width="stretch")
st.caption(f"Cache: `{index.cache_dir}` · pipeline {index.manifest.get('pipeline_version', '?')}"
           f" · seed {m.get('build', {}).get('seed', '?')}")

st.subheader("Data quality of the last build")
q = st.columns(4)
q[0].metric("Rejected rows", f"{cat.get('rejected_rows', 0):,}")
q[1].metric("Duplicate ids merged", f"{cat.get('duplicate_ids_merged', 0):,}",
            help="The same track id listed in several playlists, merged into one track.")
q[2].metric("Same-song groups", f"{cat.get('same_song_groups', 0):,}",
            help="Releases of the same song (same title and artist) under different ids.")
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
filled = cat.get("missing_text_filled") or {}
if filled:
    st.caption("Missing text filled with placeholders: "
               + ", ".join(f"{k}: {v}" for k, v in filled.items()))

st.subheader("Build metrics")
b = st.columns(4)
val = emb.get("validation", {})
b[0].metric("Embedding", f"{emb.get('dim', '?')}-d", help=emb.get("objective"))
if val:
    b[1].metric(val.get("name", "validation").replace("_", " "), f"{val.get('value', 0):.3f}",
                delta=f"{val.get('value', 0) - val.get('raw_features_baseline', 0):+.3f} "
                      "vs raw features")
b[2].metric("Silhouette", f"{clu.get('silhouette', float('nan')):.3f}",
            help=f"Over {clu.get('silhouette_points', 'clustered tracks')} in "
                 f"{clu.get('silhouette_space', clu.get('space', '?'))} space (noise excluded).")
km = clu.get("kmeans_baseline") or {}
if km:
    b[3].metric(f"k-means baseline (k={km.get('k')})", f"{km.get('silhouette', 0):.3f}")
timings = m.get("timings_s") or {}
if timings:
    t = pd.DataFrame({"stage": list(timings), "seconds": list(timings.values())})
    st.markdown("**Build time by stage (seconds, last time each stage ran)**")
    st.bar_chart(t, x="stage", y="seconds", horizontal=True, height=240, sort=False)
    st.caption(f"Total build time {sum(timings.values()):.0f} s; last run recomputed: "
               f"{', '.join(index.manifest.get('last_run', {}).get('recomputed', [])) or 'nothing'}.")

st.subheader("Rebuild")
st.write("Re-run the pipeline on the configured catalog. Unchanged stages are reused.")
guard.build_panel(index.cache_dir, key="overview")
