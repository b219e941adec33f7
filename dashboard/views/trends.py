"""Trends (analysts): audio features and popularity over release years, by genre and cluster;
cluster shares, distributions, correlations, keys and modes, popularity by (sub)genre.
Every chart follows the sidebar filters and downloads as CSV (table) and PNG (toolbar)."""
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
from pipeline.catalog import TREND_FEATURES, filter_tracks  # noqa: E402
from pipeline.map import cluster_label  # noqa: E402

st.title("Trends")
index = guard.require_index()
filters = widgets.catalog_filters(index, key="trends")
names = loaders.cluster_names(index)
# Unfiltered: no copy of the whole table just to count it (its charts read the build's
# aggregates, docs/AGGREGATES.md).
n = len(filter_tracks(index.tracks, *filters)) if any(filters) else len(index.tracks)
st.caption(f"{n:,} of {len(index.tracks):,} tracks match the filters (sidebar).")
if n == 0:
    st.warning("No tracks match the filters: widen the year range or clear a genre/cluster.")
    st.stop()

# One view, one chart at a time (a radio, not tabs): only the chosen chart is computed, sent
# and drawn (each plotly chart costs the browser ~0.2-0.4 CPU s per rerun).
VIEWS = ["Over time", "Features together", "Cluster shares", "Distributions", "Correlations",
         "Key & mode", "Popularity"]
state.restore("trends_view", VIEWS[0], "view", lambda v: VIEWS[VIEWS.index(v[0])])
view = st.radio("View", VIEWS, horizontal=True, key="trends_view", label_visibility="collapsed")
state.keep("trends_view", "view", default=VIEWS[0])


def _pick(key: str, options, default, param: str):
    """Restore a widget value from the URL / the last visit (see ``state.restore``)."""
    options = list(options)
    state.restore(key, default, param, lambda v: options[options.index(v[0])])


def _cluster_key(label: str) -> int:
    return colors.cluster_id(label)

if view == VIEWS[0]:
    c = st.columns([2, 2, 2, 1])
    _pick("trend_feature", TREND_FEATURES, TREND_FEATURES[1], "feature")
    _pick("trend_by", ["none", "genre", "cluster"], "none", "split")
    _pick("trend_band", ["ci95", "iqr"], "ci95", "band")
    feature = c[0].selectbox("Feature", TREND_FEATURES, key="trend_feature")
    by_label = c[1].selectbox("Split by", ["none", "genre", "cluster"], key="trend_by")
    band = c[2].radio("Band", ["ci95", "iqr"], horizontal=True, key="trend_band",
                      format_func={"ci95": "95% CI", "iqr": "IQR"}.get)
    state.keep("trend_feature", "feature", default=TREND_FEATURES[1])
    state.keep("trend_by", "split", default="none")
    state.keep("trend_band", "band", default="ci95")
    by = None if by_label == "none" else by_label
    data = loaders.aggregate("feature_by_year", filters, feature=feature, by=by, band=band)
    if by == "cluster":
        data = data.assign(group=[cluster_label(int(g), names) for g in data["group"]])
    fig = go.Figure()
    groups = sorted(data["group"].unique(), key=_cluster_key if by == "cluster" else str)
    for group in groups:
        d = data[data["group"] == group]
        col = (colors.cluster_color(_cluster_key(group)) if by == "cluster"
               else colors.genre_color(group) if by == "genre" else "#1f77b4")
        bx, by_ = widgets.band_xy(d)
        fig.add_scatter(x=bx, y=by_, fill="toself", line_width=0, fillcolor=col, opacity=0.18,
                        hoverinfo="skip", showlegend=False, legendgroup=str(group))
        line = widgets.fill_year_gaps(d)
        fig.add_scatter(x=line["year"], y=line["mean"], mode="lines", name=str(group),
                        line_color=col, legendgroup=str(group), connectgaps=False,
                        customdata=line[["n"]], hovertemplate="%{x}: %{y:.3f} (n=%{customdata[0]})")
    fig.update_layout(title=f"Mean {feature} by release year"
                      + (f" and {by}" if by else "") + f" (band: {'95% CI' if band == 'ci95' else 'IQR'})",
                      xaxis_title="release year", yaxis_title=feature, height=430,
                      showlegend=by is not None)
    widgets.show_chart(fig, data, f"{feature}_by_year", "Years with fewer than 10 tracks are "
                      "left out (the line stops there rather than bridging the gap). Band: 95% "
                      "confidence interval of the mean, or the middle half.")

if view == VIEWS[1]:
    state.restore("trend_multi", ["danceability", "energy", "acousticness", "valence"])
    feats = st.multiselect("Features", TREND_FEATURES, key="trend_multi")
    state.keep("trend_multi")
    norm = loaders.aggregate("normalised_trends", filters, features=tuple(feats))
    gapped = widgets.fill_year_gaps(norm, group="feature") if len(norm) else norm
    fig = px.line(gapped, x="year", y="z", color="feature", height=380,
                  title="Yearly mean in standard deviations from the filtered catalog's mean",
                  labels={"z": "z-score", "year": "release year"})
    widgets.show_chart(fig, norm, "normalised_trends")

if view == VIEWS[2]:
    share = loaders.aggregate("cluster_share_by_year", filters)
    share = share.assign(cluster_name=[cluster_label(int(c), names) for c in share["cluster"]])
    order = [cluster_label(int(c), names) for c in sorted(share["cluster"].unique())]
    fig = px.area(share.sort_values(["cluster", "year"]), x="year", y="share",
                  color="cluster_name", height=520, title="Share of each year's tracks by cluster",
                  labels={"cluster_name": "cluster", "year": "release year"},
                  category_orders={"cluster_name": order},
                  color_discrete_map=colors.color_map(order, "cluster"))
    fig.update_layout(yaxis_tickformat=".0%", legend_font_size=10)
    widgets.show_chart(fig, share, "cluster_share_by_year")

if view == VIEWS[3]:
    c = st.columns([2, 2, 2])
    _pick("dist_feature", TREND_FEATURES, TREND_FEATURES[8], "feature")
    _pick("dist_by", ["genre", "decade"], "genre", "group")
    feature_d = c[0].selectbox("Feature", TREND_FEATURES, key="dist_feature")
    by_d = c[1].selectbox("Group by", ["genre", "decade"], key="dist_by")
    state.keep("dist_feature", "feature", default=TREND_FEATURES[8])
    state.keep("dist_by", "group", default="genre")
    kind = c[2].radio("Chart", ["box", "violin", "histogram"], horizontal=True, key="dist_kind")
    dist = loaders.aggregate("feature_distribution", filters, feature=feature_d, by=by_d,
                            max_points=6000 if kind != "histogram" else 20000)
    title = f"{feature_d} by {by_d}"
    groups = sorted(dist["group"].astype(str).unique())
    style = dict(color="group", category_orders={"group": groups},
                 color_discrete_map=colors.color_map(groups, "genre"))
    if kind == "histogram":
        fig = px.histogram(dist, x=feature_d, barmode="overlay", opacity=0.55,
                           nbins=50, title=title, height=430, **style)
    elif kind == "violin":
        fig = px.violin(dist, x="group", y=feature_d, box=True, title=title,
                        height=430, **style)
    else:
        fig = px.box(dist, x="group", y=feature_d, title=title, height=430,
                     points=False, **style)
    fig.update_layout(showlegend=kind == "histogram", xaxis_title=by_d if kind != "histogram"
                      else feature_d)
    widgets.show_chart(fig, dist, f"{feature_d}_by_{by_d}_{kind}",
                      "Box and violin use a random sample of at most 6,000 tracks.")

if view == VIEWS[4]:
    corr = loaders.aggregate("correlation_matrix", filters)
    fig = px.imshow(corr, text_auto=".2f", color_continuous_scale="RdBu_r", zmin=-1, zmax=1,
                    title="Correlation between features (Pearson)", height=560, aspect="auto")
    widgets.show_chart(fig, corr.reset_index(names="feature"), "feature_correlations")

if view == VIEWS[5]:
    km = loaders.aggregate("key_mode_distribution", filters)
    fig = px.bar(km, x="key_name", y="tracks", color="mode", barmode="group", height=420,
                 title="Tracks by key and mode", labels={"key_name": "key"},
                 color_discrete_map={"major": "#1f77b4", "minor": "#ff7f0e"},
                 category_orders={"key_name": list(km.sort_values("key")["key_name"].unique())})
    widgets.show_chart(fig, km, "key_mode_distribution")

if view == VIEWS[6]:
    level = st.radio("Level", ["genre", "subgenre"], horizontal=True, key="pop_level")
    pop = loaders.aggregate("popularity_by_group", filters, by=level)
    fig = go.Figure(go.Bar(x=pop["median"], y=pop["group"], orientation="h",
                           error_x=dict(type="data", symmetric=False,
                                        array=pop["q75"] - pop["median"],
                                        arrayminus=pop["median"] - pop["q25"]),
                           customdata=pop[["tracks", "mean"]],
                           hovertemplate="%{y}: median %{x} (mean %{customdata[1]:.1f}, "
                                         "%{customdata[0]} tracks)<extra></extra>"))
    fig.update_layout(title=f"Popularity by {level}: median with the middle half",
                      height=max(300, 22 * len(pop) + 80), yaxis_autorange="reversed",
                      xaxis_title="popularity (0-100)")
    widgets.show_chart(fig, pop, f"popularity_by_{level}",
                      f"{level.capitalize()}s with at least 20 tracks.")
