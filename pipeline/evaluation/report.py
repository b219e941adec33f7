"""docs/EVALUATION.md from the evaluation JSON (``python -m pipeline evaluate``)."""
from __future__ import annotations

from typing import Any

METHOD_NOTES = {
    "random": "uniformly random tracks",
    "popularity": "most popular tracks of the catalog",
    "cosine_raw": "cosine on scaled audio features (the seed's naive method)",
    "kmeans_nn": "KMeans (k=20) on audio features, cosine neighbours inside the seed's cluster",
    "autoencoder": "small dense autoencoder (8-d bottleneck) + cosine",
    "embedding_knn": "metric-learning embedding (pipeline) retrained on training playlists + kNN",
    "content": "LightGBM ranker on content features (audio, year, popularity, embedding; the "
               "candidate's artist history)",
    "artist_then_cosine": "same-artist tracks first, then embedding cosine (seed prototype)",
    "cooccurrence": "tracks sharing the most training playlists; popular tracks fill up",
    "hybrid": "candidates from embedding, co-occurrence, same artist/album; LightGBM ranker "
              "(XE-NDCG, cross-fitted on 5 folds) with artist profiles",
}
COLS = [("precision_at_10", "P@10"), ("ndcg_at_10", "NDCG@10"), ("r_precision", "R-prec"),
        ("hit_rate_at_10", "Hit@10")]


def _table(rows: dict[str, dict]) -> list[str]:
    head = "| method | " + " | ".join(c[1] for c in COLS) + " | seeds | what it is |"
    lines = [head, "|" + "---|" * (len(COLS) + 3)]
    for name, m in sorted(rows.items(), key=lambda kv: -kv[1]["precision_at_10"]):
        cells = [f"{m[k]:.3f} [{m['ci95'][k][0]:.3f}, {m['ci95'][k][1]:.3f}]" for k, _ in COLS]
        lines.append(f"| `{name}` | " + " | ".join(cells)
                     + f" | {m['n_seeds']} | {METHOD_NOTES.get(name, '')} |")
    return lines


def _genre(g: dict[str, Any]) -> list[str]:
    if not g.get("trained"):
        return [f"Not trained: {g.get('reason', 'no labels')}."]
    classes = g["classes"]
    lines = [f"- accuracy, random track split: **{g['accuracy_random_split']:.3f}**",
             f"- accuracy, artist-disjoint split: **{g['accuracy_artist_disjoint']:.3f}** "
             f"(majority class {g['majority_class_share']:.3f}; {g['n_labelled']} tracks "
             "labelled from training playlists only)", "",
             "Confusion matrix, artist-disjoint split (rows: true, columns: predicted):", "",
             "| true \\ pred | " + " | ".join(classes) + " |", "|" + "---|" * (len(classes) + 1)]
    for c, row in zip(classes, g["confusion_artist_disjoint"]):
        lines.append(f"| {c} | " + " | ".join(str(v) for v in row) + " |")
    return lines


def _audit(a: dict) -> list[str]:
    lines = [f"{a['seed_artist_in_training']} of {a['seeds']} seeds have another track by "
             "their artist in a training playlist. P@10 by group:", "",
             "| method | artist in training | artist not in training | hits by the seed's "
             "artist | cold start: hits by the seed's artist |", "|---|---|---|---|---|"]
    cold = a.get("cold_start", {})

    def fmt(x: float | None) -> str:
        return "-" if x is None else f"{x:.3f}"

    for name, v in a["precision_at_10_by_group"].items():
        c = cold.get(name, {}).get("same_artist_share_of_hits")
        lines.append(f"| `{name}` | {fmt(v['artist_in_training'])} | "
                     f"{fmt(v['artist_not_in_training'])} | "
                     f"{fmt(v['same_artist_share_of_hits'])} | {fmt(c)} |")
    return lines


# Issue 12 part 3, second round: chosen on a validation split, the choice tested once.
ATTEMPTS_V4 = [
    "Ranker v4 (issue 12 part 3, second round). Variants are chosen on a **validation "
    "split carved from the training playlists only** (`pipeline.evaluation."
    "validation_split`: a seeded 20% of the 377 training playlists held out, 375 seeds "
    "from 75 of them; the rankers and signals fitted on the other 302), with "
    "`.venv/bin/python bench/ranker_ablation.py --cache CACHE --split validation "
    "'[{...}, ...]'`; the chosen variant was then evaluated once on the 470 test seeds by "
    "this command. Test figures of the other rows were not measured (a dash): they would "
    "only invite choosing on the test seeds.",
    "", "| attempt (v3 settings unless stated) | validation P@10 | validation NDCG@10 | "
    "test P@10 | kept |", "|---|---|---|---|---|",
    "| ranker v3: one fit/label split (labels from 30% of the playlists) | 0.2347 | 0.2675 "
    "| 0.2451 | - |",
    "| cross-fitting, 2 folds: each half labels groups whose signals (embedding, "
    "co-occurrence) are fitted on the other half; one ranker on both halves' groups "
    "| 0.2427 | 0.2753 | - | no |",
    "| cross-fitting, 3 / 4 folds (signals from the other 2 / 3) | 0.2515 / 0.2504 | "
    "0.2848 / 0.2829 | - | no |",
    "| **cross-fitting, 5 folds** (signals from the other 4) | **0.2568** | 0.2897 | "
    "**0.2536** | **yes (v4)** |",
    "| 3 folds + 20,000 instead of 10,000 training seeds | 0.2483 | 0.2833 | - | no |",
    "| 3 folds + LightGBM 15 / 63 leaves, feature_fraction 0.7, min_data_in_leaf 100 | "
    "0.2501 / 0.2507 / 0.2472 / 0.2485 | 0.2837 / 0.2846 / 0.2807 / 0.2824 | - | no |",
    "| context set: max and top-5 mean cosine of the candidate to the tracks sharing a "
    "training playlist with the seed's artist (candidate and seed left out), one split / "
    "3 folds | 0.2349 / 0.2477 | 0.2666 / 0.2829 | - | no |",
    "| 3 folds, bagged: 3 rankers of 70 trees (seeds 0-2: other folds, other negatives), "
    "scores summed | 0.2472 | 0.2795 | - | no |",
    "",
    "Cross-fitting is the one change: every training playlist now labels groups (30% "
    "before), and the signals the groups are featurised with come from 80% of the "
    "playlists (70% before), closer to serving, where they come from all of them. The "
    "validation gain grows with the folds (2 / 3 / 4 / 5: +0.008 / +0.017 / +0.016 / "
    "+0.022); the test seeds confirm it (P@10 0.2451 -> 0.2536, NDCG@10 0.2767 -> "
    "0.2865). The 95% interval of either "
    "figure is about +-0.04, so the target is met by the point estimate, not beyond "
    "doubt. Serving is unchanged: the same 39 columns, one model of 200 trees (no "
    "per-call cost added); the cost moves to the `ranker` build stage, which fits five "
    "4-epoch embeddings instead of one: `train_rankers` on all of the default catalog's "
    "playlists (the stage's call, `time.process_time()` around it, `label_folds` 1 then 5, "
    "one after the other under load average ~13) took 89.1 CPU s for v4 against 51.4 CPU "
    "s for v3 (9,347 "
    "instead of 7,634 hybrid training groups); this command took 1,343 s wall under that "
    "load (v3: 492 s under load average 9-10). The content ranker, cross-fitted alike, "
    "moved within noise: warm 0.108 -> 0.107, cold start 0.102 -> 0.105. Another build "
    "of the default catalog with today's code (/tmp/lead/c30q) gives the same hybrid "
    "figure: `bench/ranker_ablation.py --cache /tmp/lead/c30q --split test '[{}]'` "
    "printed P@10 0.2536, NDCG@10 0.2865 (the bench runs this command's split, signals "
    "and `train_rankers`)."]

# Issue 12 part 3: every attempt past ranker v2, on the protocol's split and seeds (470).
ATTEMPTS_V3 = [
    "Ranker v3 (issue 12 part 3). Each row: the hybrid's P@10 / NDCG@10 on the 470 protocol "
    "seeds, measured by a scratch harness that runs this command's split, signals and "
    "`train_rankers` steps with the embeddings cached (the code of the rejected rows is "
    "gone; the kept set is this page's figure). Label share 0.2 and LambdaRank unless stated.",
    "", "| attempt | P@10 | NDCG@10 | kept |", "|---|---|---|---|",
    "| ranker v2 (baseline; this command gave the same 0.2247) | 0.2247 | 0.2572 | - |",
    "| seed context: cosine/year/audio of the candidate to the centroid of the seed's "
    "training-playlist co-members, else of its artist's playlists' members (seed and "
    "candidate left out) | 0.2260 | 0.2567 | no |",
    "| artist profile: cosine of the two artists' mean embeddings | 0.2423 | 0.2732 | yes |",
    "| + seed vs candidate's artist, seed's artist vs candidate, artists' mean audio "
    "features, artists' mean years | 0.2400 | 0.2701 | yes |",
    "| + cosine to the candidate pool's centroid | 0.2440 | 0.2731 | no (*) |",
    "| same, LightGBM `rank_xendcg` | 0.2440 | 0.2746 | yes |",
    "| same, lambdarank_truncation_level 10 / 400 trees at lr 0.05 / 150 negatives / "
    "min_data_in_leaf 200 | 0.2353 / 0.2406 / 0.2389 / 0.2417 | - | no |",
    "| same + within-pool z-scores of emb_cos, artist_emb_cos, raw_cos (xendcg) | 0.2423 "
    "| 0.2742 | no |",
    "| same + the candidate's artist's playlist memberships (xendcg) | 0.2504 | 0.2782 "
    "| no: leak (**) |",
    "| label share 0.3 instead of 0.2 (xendcg) | 0.2474 | 0.2775 | yes |",
    "| share 0.3 + album mean-embedding cosine / 300 trees / 15 leaves / lr 0.05 / "
    "LambdaRank | 0.2415 / 0.2432 / 0.2430 / 0.2421 / 0.2421 | - | no |",
    "| hard negatives: 25% / 50% of the 60 negatives are the pool's non-hits nearest the "
    "seed (share 0.3, xendcg) | 0.2332 / 0.2247 | 0.2683 / 0.2551 | no |",
    "| more candidates: + 50 / + 100 neighbours of the seed artist's mean embedding (pool "
    "303 / 331, recall 0.238 / 0.251) | 0.2428 / 0.2460 | 0.2752 / 0.2775 | no |",
    "| second-stage re-ranker: stage 1 cross-fitted on two halves of the label playlists "
    "over whole pools; stage 2 adds cosine to the centroid of stage 1's top 10 (tracks "
    "and artists), stage-1 z-score and rank | 0.2460 -> 0.2406 | 0.2776 -> 0.2737 | no |",
    "| kept set without the pool centroid, share 0.2: xendcg / LambdaRank | 0.2396 / "
    "0.2421 | 0.2702 / 0.2724 | - |",
    "| **ranker v3 as shipped** (artist profiles, share 0.3, xendcg; this command, "
    "2026-11-26) | **0.2451** | 0.2767 | - |", "",
    "With v3 the target 0.25 was not met: v3 gains +0.020 over v2; the one variant past "
    "0.25 (0.2504) used the leaky artist-membership count and is not shipped. "
    "Choosing among near-equal variants on these same 470 seeds also fits the test set a "
    "little; differences under ~0.005 are noise (the 95% interval is +-0.04). "
    "`recommend()` latency (bench/recommend_bench.py --calls 200, 28,356 tracks) under "
    "load average 9-10 on 2 cores: hybrid p95 22.8-29.8 ms for v3 against 23.9-31.3 ms for "
    "v2 in alternating runs, so v3 costs what v2 does (five more columns on ~280 pairs); "
    "v2 measured 15.6-15.9 ms on a quiet machine (docs/RECOMMENDER.md), not re-measured "
    "quiet here. Ranker stage cost (`train_rankers` on the whole default catalog, default "
    "config of each version, both run side by side under the same load): v3 53.8 CPU s "
    "(226 s wall) against v2 66.4 CPU s (253 s wall): XE-NDCG trains faster than "
    "LambdaRank, which pays for the 1.4x training pairs of the larger label share.", "",
    "(*) The pool centroid depends on which pairs are featurised together: training "
    "featurises the sampled pairs (hits over-represented), serving the whole pool, so the "
    "feature would differ between the two (and carry the labels into training); dropped. "
    "(**) Every catalog track comes from some playlist, so an artist's track count minus "
    "its known memberships counts its tracks in held-out playlists: the same artefact as "
    "the candidate's own playlist count above; not kept whatever it measures.", "",
    "Proposed for the embedding (pipeline/map/embedding.py, not changed here): the artist "
    "profile is now the ranker's strongest feature, so an objective that pulls a track "
    "towards its playlists' *centroids* (a softmax over in-batch playlists) rather than "
    "towards single co-members may put the same signal into `emb_cos` and the candidate "
    "search.", "", *ATTEMPTS_V4]


def _targets(result: dict) -> list[str]:
    """The issue's targets against the measured figures."""
    m, c = result["methods"], result["cold_start"]
    best = max(c, key=lambda n: c[n]["precision_at_10"])
    g = result["genre_classifier"].get("accuracy_artist_disjoint")
    rows = [("hybrid P@10 >= 0.25", m["hybrid"]["precision_at_10"], 0.25,
             m["hybrid"]["ci95"]["precision_at_10"]),
            (f"best cold-start P@10 >= 0.08 (`{best}`)", c[best]["precision_at_10"], 0.08,
             c[best]["ci95"]["precision_at_10"]),
            ("genre classifier, artist-disjoint accuracy >= 0.62", g, 0.62, None)]
    lines = ["| target | measured | 95% interval | met |", "|---|---|---|---|"]
    for name, val, goal, ci in rows:
        if val is None:
            lines.append(f"| {name} | - | - | no |")
            continue
        ci_txt = f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "-"
        lines.append(f"| {name} | {val:.3f} | {ci_txt} | {'yes' if val >= goal else 'no'} |")
    return lines + [
        "", "The ranker uses no feature of the *candidate's* own playlists: under this protocol "
        "a track with no known playlist is necessarily in a held-out one, so such a feature "
        "points at the hits. With the candidate's playlist count as a feature the hybrid "
        "measured P@10 0.29 and cold-start content 0.18 - an artefact, removed.", "",
        "Towards the hybrid target (each figure from this command or from "
        "`bench/ranker_ablation.py`, same split): genre/subgenre match against the "
        "candidate's *artist's* other tracks (ranker v2) took the hybrid from 0.202 to 0.222 "
        "and cold-start content from 0.082 to 0.095; 70 instead of 30 training seeds per "
        "label playlist with 60 instead of 40 negatives, to 0.228; larger candidate pools "
        "(425 instead of 279 tracks per seed, candidate recall 0.28 instead of 0.23) would "
        "give 0.235 at 1.5x the serving cost; 400 trees with 63 leaves gave nothing. The "
        "remaining gap is ranking, not recall: the pool holds about 16 of a playlist's ~70 "
        "tracks, of which the top 10 catch 2.3.", "", *ATTEMPTS_V3]


def _ranker_split(r: dict) -> str:
    """The protocol line on how the rankers' own training split the training playlists."""
    folds = r.get("label_folds")
    if not folds:
        return ("- The hybrid and content rankers are trained on a further split of the "
                f"*training* playlists (signals from {r.get('fit_playlists', '?')}, labels "
                f"from {r.get('label_playlists', '?')} of them), then applied with signals "
                "from all training playlists.")
    sizes = "/".join(str(f["label_playlists"]) for f in folds)
    return ("- The hybrid and content rankers are cross-fitted on the *training* playlists: "
            f"dealt into {len(folds)} folds ({sizes} playlists), each fold labels groups "
            "whose signals (embedding, co-occurrence) come from the other folds only; "
            f"{r.get('label_seeds', '?')} labelled seeds in all. The rankers are then "
            "applied with signals from all training playlists.")


def render(result: dict, command: str) -> str:
    """The Markdown page for one evaluation result."""
    p, r = result["protocol"], result.get("ranker", {})
    lines = [
        "# Offline evaluation of the recommenders", "",
        f"Generated from `{command}` (JSON: `docs/evaluation.json`). Rerun it on a clean "
        "clone to reproduce every figure below; same seed, same machine, same numbers.", "",
        "## Protocol", "",
        f"- Seed {p['seed']}; {p['holdout_share']:.0%} of the {p['playlists']} playlists held "
        f"out ({p['heldout_playlists']}), chosen at random.",
        f"- From each held-out playlist with {p['min_playlist']}+ tracks, up to "
        f"{p['seeds_per_playlist']} seed tracks: {p['n_seeds']} seeds from "
        f"{p['eval_playlists']} playlists.",
        "- Each method ranks the whole catalog (never the seed itself); a hit is another track "
        "of the seed's held-out playlist.",
        "- Everything learnt (embedding, co-occurrence, ranker, genre labels and the genre "
        "classifier) is fitted on training playlists only; a track's genre is known only "
        "through its training playlists (no \"genre passport\").",
        _ranker_split(r),
        f"- R-precision uses R = number of relevant tracks, capped at the ranking depth "
        f"({p['depth']}). Intervals: {p['bootstrap']} ({p['n_boot']} resamples).",
        "- Cold start: the seeds' own training memberships are removed and the embedding is "
        "retrained; content-only methods see the seed as a new track (no playlists, no "
        "artist history).", "",
        "## Targets", "", *_targets(result), "",
        "## Results (warm: seeds keep their other playlists and artist history)", "",
        *_table(result["methods"]), "",
        "## Cold start (content-only methods, seeds as new tracks)", "",
        *_table(result["cold_start"]), "",
        "## Artist-overlap audit", "", *_audit(result["artist_overlap_audit"]), "",
        "## Genre classifier (LightGBM, audio + year + popularity + title cues)", "",
        *_genre(result["genre_classifier"]), "",
        f"Whole run: {p['seconds']} s.", ""]
    return "\n".join(lines)
