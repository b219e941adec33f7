"""Cluster browser: every cluster named by what distinguishes it, with size, silhouette,
feature profile, top artists / genres / decades and representative tracks; compare two."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # AppTest and `streamlit run` only add the script's folder
    sys.path.insert(0, str(ROOT))

import plotly.express as px  # noqa: E402
import plotly.graph_objects as go  # noqa: E402
import streamlit as st  # noqa: E402

from dashboard import colors, guard, loaders, state, widgets  # noqa: E402
from pipeline.map import PROFILE_FEATURES, cluster_label  # noqa: E402

st.title("Cluster browser")
index = guard.require_index()
cache, mtime = loaders.build_key()
table = loaders.cluster_table(cache, mtime)
names = dict(zip(table["cluster"].astype(int), table["name"]))
clu = index.metrics.get("clusters", {})
st.caption(f"{clu.get('n_clusters', len(table) - 1)} clusters; "
           f"{clu.get('noise_share', 0):.0%} of tracks are unclustered. Names read each "
           "cluster's audio profile against the whole catalog, its leading genres and its "
           "central release years (middle half). Silhouette: per cluster, "
           f"{clu.get('silhouette_space', clu.get('space', ''))} space, noise excluded.")

view = table.assign(label=[cluster_label(int(c), names) for c in table["cluster"]])
st.dataframe(view[["cluster", "name", "size", "share", "silhouette", "mean_membership",
                   "top_genre", "years"]], hide_index=True, width="stretch", height=280,
             column_config={
                 "share": st.column_config.NumberColumn(format="percent"),
                 "silhouette": st.column_config.ProgressColumn(min_value=-1, max_value=1,
                                                               format="%.2f"),
                 "mean_membership": st.column_config.NumberColumn("membership", format="%.2f")})
widgets.download_table(view, "clusters")

options = loaders.cluster_options(index, include_noise=True)
ids = list(options)
biggest = int(table.loc[table["cluster"] >= 0].sort_values("size").iloc[-1]["cluster"])
state.restore("cb_view", "One cluster", "view",
              lambda v: {"one": "One cluster", "compare": "Compare two"}[v[0]])
view = st.radio("View", ["One cluster", "Compare two"], horizontal=True, key="cb_view",
                label_visibility="collapsed")
state.keep("cb_view", "view", lambda v: "one" if v == "One cluster" else "compare",
           default="One cluster")


@st.fragment
def one_cluster() -> None:
    """One cluster's profile, top values and typical tracks. A fragment: picking another
    cluster reruns (and redraws in the browser) only this part, not the table above."""
    state.restore("cb_cluster", biggest, "cluster", lambda v: ids[ids.index(int(v[0]))])
    cid = st.selectbox("Cluster", ids, format_func=options.get, key="cb_cluster")
    state.keep("cb_cluster", "cluster", default=None)
    row = table.set_index("cluster").loc[cid]
    m = st.columns(4)
    m[0].metric("Tracks", f"{int(row['size']):,}", f"{row['share']:.1%} of catalog",
                delta_color="off")
    m[1].metric("Silhouette", "n/a" if row["silhouette"] != row["silhouette"]
                else f"{row['silhouette']:.2f}")
    m[2].metric("Mean membership", f"{row['mean_membership']:.2f}")
    m[3].metric("Central years", row["years"])
    z = loaders.aggregate("feature_profile", module="pipeline.map",
                          features=PROFILE_FEATURES).loc[cid]
    fig = go.Figure(go.Bar(x=z.to_numpy(), y=z.index, orientation="h",
                           marker_color=["#d62728" if v > 0 else "#1f77b4" for v in z]))
    fig.update_layout(shapes=[dict(type="rect", xref="paper", yref="paper", x0=0, x1=0.012,
                                   y0=0, y1=1, fillcolor=colors.cluster_color(cid),
                                   line_width=0)])
    fig.update_layout(title=f"Feature profile of {options[cid]} (z-score vs whole catalog)",
                      height=360, xaxis_title="standard deviations from the catalog mean",
                      yaxis_autorange="reversed")
    widgets.show_chart(fig, z.rename("z").rename_axis("feature").reset_index(), f"cluster_{cid}_profile")

    c = st.columns(3)
    for col, (field, title) in zip(c, [("artist", "Top artists"), ("genres", "Top genres"),
                                       ("decade", "Decades")]):
        top = loaders.aggregate("top_values", module="pipeline.map", cluster=cid,
                               column=field, n=10)
        col.markdown(f"**{title}**")
        col.dataframe(top, hide_index=True, width="stretch", height=250,
                      column_config={"share": st.column_config.NumberColumn(format="percent"),
                                     "lift": st.column_config.NumberColumn(format="%.1f×")})
    st.markdown("**Most typical tracks** (closest to the cluster's average sound, one "
                "release per song)")
    reps = loaders.aggregate("representative_tracks", module="pipeline.map",
                            cluster=cid, n=15, features=PROFILE_FEATURES)
    reps = widgets.integers_as_integers(reps)
    st.dataframe(widgets.with_youtube(reps).drop(columns=["track_id"]), hide_index=True,
                 width="stretch",
                 column_config={"spotify_url": st.column_config.LinkColumn("Spotify",
                                                                           display_text="open"),
                                "youtube_url": widgets.YOUTUBE_COLUMN,
                                "cluster_probability": st.column_config.NumberColumn(
                                    "membership", format="%.2f"),
                                "distance": st.column_config.NumberColumn(
                                    "distance to centre", format="%.2f",
                                    help="In standard deviations; smaller = more typical")})
    widgets.download_table(reps, f"cluster_{cid}_tracks", key="dl_reps")



if view == "One cluster":
    one_cluster()

else:
    real = [c for c in ids if c >= 0]
    c = st.columns(2)
    a = c[0].selectbox("Cluster A", real, index=0, format_func=options.get, key="cb_a")
    b = c[1].selectbox("Cluster B", real, index=min(1, len(real) - 1), format_func=options.get,
                       key="cb_b")
    if a == b:
        st.info("Pick two different clusters to compare.")
    else:
        cmp = loaders.aggregate("compare_clusters", module="pipeline.map", a=a, b=b,
                                features=PROFILE_FEATURES)
        long = cmp.melt(id_vars="feature", value_vars=["z_a", "z_b"], var_name="cluster",
                        value_name="z")
        long["cluster"] = long["cluster"].map({"z_a": f"A: {options[a]}",
                                               "z_b": f"B: {options[b]}"})
        fig = px.bar(long, x="z", y="feature", color="cluster", barmode="group",
                     orientation="h", height=420,
                     color_discrete_sequence=[colors.cluster_color(a), colors.cluster_color(b)],
                     title="Feature profiles side by side (z-score vs whole catalog)")
        fig.update_layout(legend=dict(orientation="h", y=-0.2), yaxis_autorange="reversed")
        widgets.show_chart(fig, cmp, f"compare_{a}_{b}",
                          "Features sorted by how much the two clusters differ.")
        side = st.columns(2)
        for col, cl in zip(side, (a, b)):
            col.markdown(f"**{options[cl]}** — top artists")
            col.dataframe(loaders.aggregate("top_values", module="pipeline.map",
                                           cluster=cl, column="artist", n=8),
                          hide_index=True, width="stretch")
