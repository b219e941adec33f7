"""What changed since the previous build, in a curator's words (reads ``changes.json``,
written by every build: a first fit, an update that kept the map, or a refit aligned to the
previous map; see docs/UPDATES.md)."""
from __future__ import annotations

import pandas as pd

STATUS_ORDER = {"appeared": 0, "vanished": 1, "grew": 2, "shrank": 3, "same": 4}


def summary(changes: dict) -> tuple[str, list[str]]:
    """(headline, further sentences) for a build's ``changes.json``; empty headline for a
    first build (nothing to compare with)."""
    mode, prev = changes.get("mode"), changes.get("previous") or {}
    if mode not in ("update", "refit") or not prev.get("n_tracks"):
        return "", []
    t = changes.get("tracks") or {}
    moved = (f"{t.get('added', 0):,} tracks added, {t.get('removed', 0):,} removed and "
             f"{t.get('edited', 0):,} edited since the previous build"
             + (f" of {prev['built_at'][:10]}" if prev.get("built_at") else "")
             + f" ({prev['n_tracks']:,} tracks).")
    if mode == "update":
        head = ("The map was **updated in place**: every track that was already there kept its "
                "position and cluster; " + moved)
    else:
        head = ("The map was **refitted** and then aligned to the previous one, so that it "
                "moves as little as possible; " + moved)
    notes = []
    al = changes.get("alignment") or {}
    if mode == "refit" and al:
        notes.append(f"Of the {al.get('shared_tracks', 0):,} tracks in both builds, "
                     f"{al.get('kept_cluster_share', 0):.0%} kept their cluster; on average "
                     f"they moved {al.get('mean_displacement_share', 0):.1%} of the map's size.")
        notes.extend(_carry_notes(al))
    clusters = changes.get("clusters") or []
    counts = pd.Series([c.get("status") for c in clusters]).value_counts()
    if len(counts):
        parts = [f"{counts[s]} {s}" for s in STATUS_ORDER if counts.get(s, 0)]
        notes.append("Clusters: " + ", ".join(parts) + ".")
    share = changes.get("placed_by_transform_share")
    if share is not None and mode == "update":
        notes.append(f"{share:.0%} of the tracks were placed on the map without a refit "
                     "(next to their most similar tracks).")
    if changes.get("refit_advised"):
        notes.append("**A refit is advisable**"
                     + (f": {changes['refit_reason']}" if changes.get("refit_reason") else "")
                     + ". Run `python -m pipeline build --refit`; the refitted map is aligned "
                       "to this one and clusters keep their ids and names where they match.")
    return head, notes


def _carry_notes(al: dict) -> list[str]:
    """How the refit's cluster ids were decided: carried over where the new map supports
    them, or HDBSCAN's fresh partition (chosen, or because carrying broke an aim)."""
    fresh, final = al.get("fresh_partition") or {}, al.get("final_partition") or {}
    if al.get("cluster_ids") == "carry" and fresh and final:
        return [f"Cluster ids were **carried over** where the new map supports them "
                f"({al.get('carried_share', 0):.0%} of the tracks keep an id the fresh "
                f"clustering would have changed; the fresh clustering alone would have kept "
                f"{al.get('fresh_kept_cluster_share', 0):.0%}). The price: clusters are less "
                f"compact (silhouette {final.get('silhouette', 0):.2f} against "
                f"{fresh.get('silhouette', 0):.2f}; {final.get('n_clusters', 0)} clusters and "
                f"{final.get('noise_share', 0):.0%} unclustered against "
                f"{fresh.get('n_clusters', 0)} and {fresh.get('noise_share', 0):.0%}). "
                "A build with `refit_clusters: fresh` (docs/UPDATES.md) takes the fresh ones."]
    if al.get("carry_refused"):
        return [f"Cluster ids were not carried over: that would have broken an aim of the "
                f"clustering ({al['carry_refused']}), so the fresh clusters are shown, "
                "matched to the old ids where they overlap."]
    return []


def cluster_table(changes: dict, names: dict[int, str] | None = None) -> pd.DataFrame:
    """One row per cluster that changed (appeared, vanished, grew, shrank), biggest moves first."""
    rows = [c for c in changes.get("clusters") or [] if c.get("status") != "same"]
    if not rows:
        return pd.DataFrame(columns=["cluster", "name", "change", "before", "after", "delta"])
    df = pd.DataFrame(rows)
    if names:
        df["name"] = [names.get(int(i), n) for i, n in zip(df["id"], df["name"])]
    df["delta"] = df["after"] - df["before"]
    df["order"] = df["status"].map(STATUS_ORDER)
    df = df.sort_values(["order", "delta"], key=lambda s: s.abs() if s.name == "delta" else s,
                        ascending=[True, False])
    return (df.rename(columns={"id": "cluster", "status": "change"})
              [["cluster", "name", "change", "before", "after", "delta"]]
              .reset_index(drop=True))
