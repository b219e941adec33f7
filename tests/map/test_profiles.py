"""pipeline.cluster_profile: names from z-scores, genres and years; summaries; comparisons."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.map import profiles as cp


@pytest.fixture(scope="module")
def tracks() -> pd.DataFrame:
    """Three planted clusters + noise: 0 fast/loud edm 2015-19, 1 slow/acoustic rock 1970s,
    2 average pop; -1 noise."""
    rng = np.random.default_rng(0)
    rows = []
    spec = {0: dict(tempo=170, loudness=-3, acousticness=0.02, genre="edm", years=(2015, 2019)),
            1: dict(tempo=75, loudness=-14, acousticness=0.85, genre="rock", years=(1970, 1979)),
            2: dict(tempo=120, loudness=-8, acousticness=0.3, genre="pop", years=(2000, 2009)),
            -1: dict(tempo=120, loudness=-8, acousticness=0.3, genre="rap", years=(1990, 2020))}
    for c, s in spec.items():
        for i in range(100):
            y = int(rng.integers(s["years"][0], s["years"][1] + 1))
            rows.append({
                "track_id": f"{c}_{i}", "track_name": f"Song {c}-{i}", "artist": f"A{c}{i % 4}",
                "genre": s["genre"] if i % 10 else "latin", "genres": [s["genre"], "x"],
                "year": float(y), "decade": float(y // 10 * 10), "cluster": c,
                "cluster_probability": float(rng.uniform(0.2, 1.0)) if c >= 0 else 0.0,
                "tempo": s["tempo"] + rng.normal(0, 3), "loudness": s["loudness"] + rng.normal(0, .5),
                "acousticness": np.clip(s["acousticness"] + rng.normal(0, .03), 0, 1),
                "energy": 0.6 + rng.normal(0, .05), "danceability": 0.6 + rng.normal(0, .05),
                "valence": 0.5 + rng.normal(0, .05), "speechiness": 0.05, "liveness": 0.1,
                "instrumentalness": 0.0, "popularity": float(rng.integers(0, 100)),
                "spotify_url": "u"})
    return pd.DataFrame(rows)


def test_names_read_what_distinguishes_each_cluster(tracks):
    names = cp.cluster_names(tracks)
    assert names[-1] == "unclustered"
    assert names[0].startswith("fast, loud-mastered") and "· edm ·" in names[0]
    assert names[0].endswith("2016-18") or names[0].split(" · ")[-1].startswith("201")
    assert "slow" in names[1] and "acoustic" in names[1] and "rock" in names[1]
    assert names[1].split(" · ")[-1].startswith("197")
    assert len(set(names.values())) == len(names)


def test_profile_is_z_against_catalog(tracks):
    z = cp.feature_profile(tracks)
    assert z.loc[0, "tempo"] > 1 and z.loc[1, "tempo"] < -1
    assert abs(z.loc[2, "tempo"]) < 0.5


@pytest.mark.parametrize("years,expected", [
    ([2015, 2016, 2018, 2019], "2015-18"), ([1985, 1990, 2005, 2012], "1988-2006"),
    ([2019, 2019], "2019"), ([], "years unknown")])
def test_year_span(years, expected):
    assert cp.year_span(pd.Series(years, dtype=float)) == expected


def test_describe_profile_threshold_and_missing_low_word():
    z = pd.Series({"tempo": 1.2, "speechiness": -2.0, "energy": 0.1})
    assert cp.describe_profile(z) == "fast"     # low speech has no word; energy too weak
    assert cp.describe_profile(pd.Series({"tempo": 0.1})) == "typical sound"


def test_dominant_genres():
    assert cp.dominant_genres(pd.Series(["edm"] * 5 + ["pop"] * 4 + ["rap"])) == "edm/pop"
    assert cp.dominant_genres(pd.Series(list("abcdefgh"))) == "mixed genres"


def test_summary_uses_metrics_silhouette(tracks):
    metrics = {"clusters": {"per_cluster_silhouette": [0.5, 0.25, 0.75]}}
    s = cp.cluster_summary(tracks, metrics).set_index("cluster")
    assert s.loc[1, "silhouette"] == 0.25 and np.isnan(s.loc[-1, "silhouette"])
    assert s["size"].sum() == len(tracks)
    assert s.loc[0, "top_genre"] == "edm"


def test_summary_takes_the_builds_names_when_they_cover_every_cluster(tracks):
    ids = sorted(int(c) for c in tracks["cluster"].unique())
    given = {c: f"name {c}" for c in ids}
    assert cp.cluster_summary(tracks, names=given)["name"].tolist() == [given[c] for c in ids]
    partial = {ids[0]: "only one"}                       # an older build's file: computed
    computed = cp.cluster_names(tracks)
    assert cp.cluster_summary(tracks, names=partial)["name"].tolist() == [computed[c] for c in ids]


def test_top_values_and_lift(tracks):
    top = cp.top_values(tracks, 0, "genres")
    assert top.iloc[0]["value"] == "x" or top.iloc[0]["value"] == "edm"
    edm = top.set_index("value").loc["edm"]
    assert edm["share"] == pytest.approx(1.0) and edm["lift"] == pytest.approx(4.0)
    dec = cp.top_values(tracks, 1, "decade")
    assert dec.iloc[0]["value"] == "1970s"
    with pytest.raises(KeyError, match="no column 'nope'"):
        cp.top_values(tracks, 0, "nope")


def test_names_say_soft_mastered_not_quiet(tracks):
    """Loudness is mastering level: the 1970s cluster (loudness -14 dB) is "soft-mastered"."""
    names = cp.cluster_names(tracks)
    assert "soft-mastered" in names[1]
    assert not any(w in {"quiet", "loud"} for n in names.values()
                   for w in n.replace("·", ",").replace(" ", "").split(","))


def test_names_only_name_features_most_tracks_share(tracks):
    """A few fully instrumental tracks raise cluster 2's mean instrumentalness far above
    the catalog's (z > 0.5), but most of its tracks have vocals: it is not "instrumental"."""
    t = tracks.copy()
    few = t.index[(t["cluster"] == 2)][:20]
    t.loc[few, "instrumentalness"] = 1.0
    z = cp.feature_profile(t)
    assert z.loc[2, "instrumentalness"] > cp.MIN_Z
    assert "instrumental" not in cp.cluster_names(t)[2]
    # ... while a cluster where most tracks are instrumental is named so.
    t.loc[t.index[t["cluster"] == 2][:80], "instrumentalness"] = 0.9
    assert "instrumental" in cp.cluster_names(t)[2]


def test_years_only_when_they_distinguish(tracks):
    """Cluster 2 (2000s) sits at the catalog's median year: no year span in its name;
    clusters 0 (2015-19) and 1 (1970s) are set apart by their years."""
    names = cp.cluster_names(tracks)
    assert names[2].count("·") == 1, names[2]
    assert names[0].count("·") == 2 and names[1].count("·") == 2
    assert cp.years_distinguish(pd.Series([1975.0] * 5), tracks["year"])
    assert not cp.years_distinguish(tracks.loc[tracks["cluster"] == 2, "year"], tracks["year"])


def test_representative_tracks_are_the_most_typical(tracks):
    """The most typical tracks (closest to the cluster's average profile), one per song;
    not the most popular, not the highest membership probability."""
    t = tracks.assign(song_group=np.arange(len(tracks)))
    members = t.index[t["cluster"] == 0]
    odd = members[0]       # popular, full membership, but far from the cluster's sound
    t.loc[odd, ["popularity", "cluster_probability", "tempo", "acousticness"]] = (100, 1.0, 90, 0.9)
    reps = cp.representative_tracks(t, 0, n=5)
    assert len(reps) == 5 and t.loc[odd, "track_id"] not in set(reps["track_id"])
    assert reps["distance"].is_monotonic_increasing
    feats = [f for f in cp.PROFILE_FEATURES if f in t]
    x = t[feats].astype(float)
    xs = ((x.loc[members] - x.loc[members].mean()) / x.std(ddof=0).replace(0, np.nan)).fillna(0)
    dist = pd.Series(np.sqrt((xs ** 2).mean(axis=1)).to_numpy(), index=t.loc[members, "track_id"])
    assert reps["track_id"].iloc[0] == dist.idxmin()
    # Two releases of the most typical song: only the closer one is listed.
    twin = t.index[t["track_id"] == reps["track_id"].iloc[1]][0]
    t.loc[twin, "song_group"] = t.loc[t["track_id"] == reps["track_id"].iloc[0], "song_group"].iloc[0]
    again = cp.representative_tracks(t, 0, n=5)
    assert reps["track_id"].iloc[1] not in set(again["track_id"])
    assert again["track_id"].iloc[0] == reps["track_id"].iloc[0]


def test_compare_clusters(tracks):
    cmp = cp.compare_clusters(tracks, 0, 1)
    assert cmp.iloc[0]["feature"] in {"tempo", "loudness", "acousticness"}
    assert cmp["z_diff"].abs().is_monotonic_decreasing
    row = cmp.set_index("feature").loc["tempo"]
    assert row["mean_a"] > 160 and row["mean_b"] < 80
    with pytest.raises(KeyError, match="cluster 9 does not exist"):
        cp.compare_clusters(tracks, 0, 9)


def test_cluster_label():
    assert cp.cluster_label(-1, {}) == "unclustered"
    assert cp.cluster_label(3, {3: "fast · edm · 2019"}) == "3 · fast · edm · 2019"
    assert cp.cluster_label(4) == "cluster 4"
