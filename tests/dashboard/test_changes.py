from dashboard.changes import cluster_table, summary

UPDATE = {
    "mode": "update",
    "previous": {"generation": "g-1", "built_at": "2026-11-20T10:00:00", "n_tracks": 950},
    "tracks": {"added": 50, "removed": 3, "edited": 2, "kept": 945},
    "placed_by_transform_share": 0.26, "refit_advised": True,
    "refit_reason": "26% of the tracks were placed without a refit (threshold 25%)",
    "alignment": None,
    "clusters": [{"id": 0, "name": "calm", "before": 100, "after": 100, "status": "same"},
                 {"id": 1, "name": "loud", "before": 80, "after": 95, "status": "grew"},
                 {"id": 2, "name": "odd", "before": 30, "after": 28, "status": "shrank"},
                 {"id": 7, "name": "new one", "before": 0, "after": 12, "status": "appeared"},
                 {"id": 5, "name": "gone", "before": 9, "after": 0, "status": "vanished"}],
    "vanished_ids": [5],
}


def test_first_build_says_nothing():
    assert summary({"mode": "fit", "previous": {"generation": None, "n_tracks": None}}) == ("", [])


def test_update_summary_counts_and_advice():
    head, notes = summary(UPDATE)
    assert "updated in place" in head and "50 tracks added, 3 removed and 2 edited" in head
    assert "2026-11-20" in head and "950" in head
    text = " ".join(notes)
    assert "1 appeared, 1 vanished, 1 grew, 1 shrank" in text
    assert "26%" in text and "refit is advisable" in text and "threshold 25%" in text


def test_refit_summary_reports_alignment():
    refit = {**UPDATE, "mode": "refit", "refit_advised": False, "alignment": {
        "shared_tracks": 945, "mean_displacement_share": 0.031, "kept_cluster_share": 0.97}}
    head, notes = summary(refit)
    assert "refitted" in head and "aligned" in head
    assert any("945" in n and "97%" in n and "3.1%" in n for n in notes)
    assert not any("advisable" in n for n in notes)


def test_cluster_table_orders_changes_and_drops_unchanged():
    df = cluster_table(UPDATE, names={1: "loud guitars"})
    assert list(df["change"]) == ["appeared", "vanished", "grew", "shrank"]
    assert 0 not in set(df["cluster"])
    assert df.loc[df["cluster"] == 1, "name"].item() == "loud guitars"
    assert df.loc[df["cluster"] == 5, "delta"].item() == -9


def test_carried_refit_says_what_it_kept_and_what_it_cost():
    al = {"shared_tracks": 945, "mean_displacement_share": 0.04, "kept_cluster_share": 0.955,
          "cluster_ids": "carry", "carried_share": 0.37, "fresh_kept_cluster_share": 0.59,
          "final_partition": {"silhouette": 0.324, "n_clusters": 16, "noise_share": 0.176},
          "fresh_partition": {"silhouette": 0.410, "n_clusters": 14, "noise_share": 0.168}}
    _, notes = summary({**UPDATE, "mode": "refit", "alignment": al})
    text = " ".join(notes)
    assert "96% kept their cluster" in text and "carried over" in text
    assert "alone would have kept 59%" in text and "37% of the tracks" in text
    assert "silhouette 0.32 against 0.41" in text and "16 clusters and 18% unclustered" in text


def test_refused_carry_is_explained_and_fresh_refit_says_nothing_more():
    base = {"shared_tracks": 945, "mean_displacement_share": 0.04, "kept_cluster_share": 0.6}
    refused = {**base, "cluster_ids": "fresh", "carry_refused": "7 clusters < 8"}
    _, notes = summary({**UPDATE, "mode": "refit", "alignment": refused})
    assert any("not carried over" in n and "7 clusters < 8" in n for n in notes)
    _, plain = summary({**UPDATE, "mode": "refit", "alignment": {**base, "cluster_ids": "fresh"}})
    assert not any("carried" in n for n in plain)
