"""Genre classifier: LightGBM on audio features (+ year, popularity) -> playlist genre.

A track's label is the most frequent genre among the playlists it is *known* to be in
(pass training memberships only when evaluating). Scored on a random track split and on
an artist-disjoint split (no artist on both sides), the honest figure for new artists.
The model fills genres for tracks that lack one and drives the "by genre" mode.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)
GENRE_FEATURES = ["danceability", "energy", "key", "loudness", "mode", "speechiness",
                  "acousticness", "instrumentalness", "liveness", "valence", "tempo",
                  "duration_ms", "year", "popularity"]
PARAMS = {"objective": "multiclass", "learning_rate": 0.06, "num_leaves": 31,
          "min_data_in_leaf": 30, "feature_fraction": 0.8, "bagging_fraction": 0.8,
          "bagging_freq": 1, "lambda_l2": 2.0, "deterministic": True, "force_col_wise": True,
          "verbose": -1}
N_ROUNDS = 300
MIN_CLASS_SIZE = 20   # rarer labels are not learnt (they keep their own label)
MAX_CLASSES = 30      # e.g. Spotify-2000's 149 "Top Genre" values: the 30 most common
MAX_TRAIN = 200_000   # the model is fitted on at most this many labelled tracks (seeded)
PREDICT_BATCH = 100_000
# Catalogs up to this size get a prediction for every track; larger ones only for the
# tracks without a known genre (the ones genre_filled needs): predicting 1,800 trees costs
# about 36 s of CPU per 200k tracks, and nothing reads genre_pred of labelled tracks.
PREDICT_ALL_MAX = 100_000


def trainable(lab: pd.Series) -> tuple[np.ndarray, list[str]]:
    """(mask (n,) of tracks whose label is learnt, sorted class names)."""
    counts = lab.value_counts()
    keep = counts[counts >= MIN_CLASS_SIZE].index[:MAX_CLASSES]
    return lab.isin(keep).to_numpy(), sorted(keep)


def track_labels(tracks: pd.DataFrame, memberships: pd.DataFrame, col: str = "genre") -> pd.Series:
    """Per track row, the most frequent ``col`` among its known playlists (None if none).

    Ties break alphabetically. Returns a Series aligned with ``tracks`` (n,).
    """
    m = memberships.dropna(subset=[col])
    counts = m.groupby(["track_id", col]).size().rename("n").reset_index()
    top = counts.sort_values(["n", col], ascending=[False, True]).drop_duplicates("track_id")
    lab = top.set_index("track_id")[col].reindex(tracks["track_id"].to_numpy())
    return pd.Series(lab.to_numpy(), index=tracks.index, dtype=object)


def title_flags(tracks: pd.DataFrame) -> pd.DataFrame:
    """Cues in the title, album and artist text (remix, featuring, Spanish words...).

    Catalog attributes, not playlist labels; worth ~1.5 points of artist-disjoint accuracy.
    """

    def text(col: str) -> pd.Series:
        return tracks.get(col, pd.Series("", index=tracks.index)).astype(str).str.casefold()

    name, album, art = text("track_name"), text("album_name"), text("artist")
    spanish = r"\b(?:el|la|los|las|mi|tu|que|de|amor|corazón|te|y|con|para|por|no)\b"
    flags = {
        "t_remix": name.str.contains(r"remix|\bmix\b|\bedit\b|bootleg|\bvip\b")
        | album.str.contains("remix"),
        "t_feat": name.str.contains(r"feat\.|\bft\.|\bfeat\b|with "),
        "t_accent": (name + " " + art).str.contains(r"[ñáéíóúü¿¡]"),
        "t_spanish": name.str.contains(spanish),
        "t_paren": name.str.contains(r"[\(\[]"),
        "t_live": name.str.contains(r"live|remaster"),
        "t_album_is_title": name == album,
    }
    out = pd.DataFrame({k: v.astype(float) for k, v in flags.items()}, index=tracks.index)
    out["t_len"] = name.str.len().astype(float)
    out["t_artist_words"] = art.str.count(" ").astype(float)
    return out


def genre_matrix(tracks: pd.DataFrame) -> pd.DataFrame:
    """The classifier's inputs (n, n_inputs): audio, year, popularity, title flags."""
    x = tracks.reindex(columns=GENRE_FEATURES).astype(float)
    x["year"] = tracks["year"].fillna(tracks["decade"] + 5).astype(float)
    return pd.concat([x, title_flags(tracks)], axis=1)


def fit_genre(x: pd.DataFrame, y: np.ndarray, classes: list[str], seed: int, threads: int = 1):
    """Fit the multiclass booster. y: (n,) class indices into ``classes``.

    One thread by default: OpenMP threads on a busy shared machine spin and slow down
    LightGBM by orders of magnitude.
    """
    import lightgbm as lgb

    params = {**PARAMS, "num_class": len(classes), "seed": seed, "num_threads": threads}
    return lgb.train(params, lgb.Dataset(x, y), num_boost_round=N_ROUNDS)


def _split_scores(x: pd.DataFrame, y: np.ndarray, groups: np.ndarray, classes: list[str],
                  seed: int) -> tuple[float, np.ndarray]:
    """Accuracy and confusion matrix (n_classes, n_classes) on a held-out 20% of ``groups``."""
    rng = np.random.default_rng(seed)
    uniq = np.unique(groups)
    test_g = set(rng.choice(uniq, max(1, len(uniq) // 5), replace=False))
    test = np.isin(groups, list(test_g))
    train = training_rows(~test, MAX_TRAIN, seed)
    model = fit_genre(x.iloc[train], y[train], classes, seed)
    pred = model.predict(x[test]).argmax(1)
    conf = np.zeros((len(classes), len(classes)), int)
    np.add.at(conf, (y[test], pred), 1)
    return float((pred == y[test]).mean()), conf


@dataclass
class GenreResult:
    model: object | None          # lightgbm Booster, None without labels
    classes: list[str]
    predictions: pd.DataFrame     # track_id, genre_pred, genre_pred_prob, genre_filled
    report: dict


def evaluate_genre(tracks: pd.DataFrame, memberships: pd.DataFrame, seed: int) -> dict:
    """Random-split and artist-disjoint accuracy with confusion matrices (labels from
    ``memberships`` only)."""
    lab = track_labels(tracks, memberships)
    ok, classes = trainable(lab)
    if ok.sum() < 50 or len(classes) < 2:
        return {"trained": False, "reason": "fewer than 50 tracks with a learnable genre"}
    y = pd.Categorical(lab[ok], categories=classes).codes.astype(int)
    x = genre_matrix(tracks)[ok].reset_index(drop=True)
    acc_r, conf_r = _split_scores(x, y, np.arange(len(y)), classes, seed)
    acc_a, conf_a = _split_scores(x, y, tracks.loc[ok, "artist"].to_numpy(), classes, seed)
    log.info("genre classifier: random split %.3f, artist-disjoint %.3f", acc_r, acc_a)
    return {"trained": True, "classes": classes, "n_labelled": int(ok.sum()),
            "accuracy_random_split": round(acc_r, 4),
            "accuracy_artist_disjoint": round(acc_a, 4),
            "majority_class_share": round(float(np.bincount(y).max() / len(y)), 4),
            "confusion_artist_disjoint": conf_a.tolist(),
            "confusion_random_split": conf_r.tolist()}


def build_genre(tracks: pd.DataFrame, memberships: pd.DataFrame, seed: int,
                evaluate: bool = True) -> GenreResult:
    """Score the classifier, fit it on every labelled track, predict every track.

    Labels come from playlist genres, else from the track table's own ``genre`` column
    (catalogs like Spotify-by-genre). Without any label, nothing is trained.
    """
    res, lab = fit_genre_model(tracks, memberships, seed, evaluate)
    if res.model is None:
        return res
    known = lab.notna().to_numpy()
    x = genre_matrix(tracks)
    rows = np.arange(len(tracks)) if len(tracks) <= PREDICT_ALL_MAX else np.flatnonzero(~known)
    pred, prob = np.full(len(tracks), None, object), np.full(len(tracks), np.nan)
    pred_code, prob[rows] = predict_batches(res.model, x.iloc[rows])
    pred[rows] = np.array(res.classes, object)[pred_code]
    res.predictions = pd.DataFrame({"track_id": tracks["track_id"].to_numpy(), "genre_pred": pred,
                                    "genre_pred_prob": prob.round(4),
                                    "genre_filled": np.where(known, lab.to_numpy(), pred)})
    log.info("genre: fitted on %d tracks, predicted %d", res.report["trained_on"], len(rows))
    return res


def fit_genre_model(tracks: pd.DataFrame, memberships: pd.DataFrame, seed: int,
                    evaluate: bool = True) -> tuple[GenreResult, pd.Series]:
    """The fit of :func:`build_genre` without predicting: (result, each track's known
    label (n,) or None). The result's predictions are None when a model was fitted (a
    data-parallel engine predicts partitions with :func:`apply_genre`), else the table
    of known labels."""
    source = label_source(tracks, memberships)
    lab = track_labels(tracks, source)
    ok, classes = trainable(lab)
    known = lab.notna().to_numpy()
    if ok.sum() < 50 or len(classes) < 2:
        reason = (f"catalog has fewer than 50 tracks in genres with {MIN_CLASS_SIZE}+ tracks "
                  "(or one such genre): no classifier")
        log.warning("genre: %s", reason)
        empty = pd.DataFrame({"track_id": tracks["track_id"],
                              "genre_pred": pd.Series(dtype=object),
                              "genre_pred_prob": np.nan, "genre_filled": lab.to_numpy()})
        return GenreResult(None, [], empty, {"trained": False, "reason": reason}), lab
    report = evaluate_genre(tracks, source, seed) if evaluate else {"trained": True}
    y = pd.Categorical(lab, categories=classes).codes.astype(int)
    train = training_rows(ok, MAX_TRAIN, seed)
    model = fit_genre(genre_matrix(tracks.iloc[train]), y[train], classes, seed)
    report.update(classes=classes, filled_tracks=int((~known).sum()),
                  trained_on=int(len(train)), labelled=int(ok.sum()),
                  predicted="all tracks" if len(tracks) <= PREDICT_ALL_MAX or not known.any()
                  else "tracks without a known genre",
                  label_source="playlists" if source is memberships else "track genre column")
    return GenreResult(model, classes, None, report), lab


def training_rows(ok: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """Rows (sorted) the classifier is fitted on: all of ``ok`` (n,) bool, or a seeded
    sample of ``cap`` of them."""
    rows = np.flatnonzero(ok)
    if len(rows) <= cap:
        return rows
    return np.sort(np.random.default_rng(seed).choice(rows, cap, replace=False))


def predict_batches(model, x: pd.DataFrame, batch: int = PREDICT_BATCH
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(best class index (n,), its probability (n,)), predicted ``batch`` rows at a time
    so the (n, n_classes) probabilities of a large catalog never exist at once."""
    codes, probs = [], []
    for lo in range(0, len(x), batch):
        p = model.predict(x.iloc[lo:lo + batch])
        codes.append(p.argmax(1))
        probs.append(p.max(1))
    if not codes:
        return np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate(codes), np.concatenate(probs)


def apply_genre(model_text: str, classes: list[str], tracks: pd.DataFrame,
                labels: pd.Series, catalog_size: int) -> pd.DataFrame:
    """``genre_pred.parquet`` rows for ``tracks`` from a saved model (LightGBM text).

    Pure over a batch of rows: a catalog update predicts its new tracks with it.

    Args:
        model_text: ``genre_model.txt`` (a "# no model" text predicts nothing).
        classes: the model's class names (``genre_report.json`` "classes").
        tracks: (n rows) the tracks to predict; labels: (n,) their known genre or None.
        catalog_size: tracks in the whole catalog: up to :data:`PREDICT_ALL_MAX` every row
            is predicted, else only rows without a known genre, as :func:`build_genre` does.
    Returns:
        DataFrame(track_id, genre_pred, genre_pred_prob, genre_filled), n rows.
    """
    known = labels.notna().to_numpy()
    pred, prob = np.full(len(tracks), None, object), np.full(len(tracks), np.nan)
    if classes and not model_text.startswith("#"):
        import lightgbm as lgb

        model = lgb.Booster(model_str=model_text)
        rows = (np.arange(len(tracks)) if catalog_size <= PREDICT_ALL_MAX
                else np.flatnonzero(~known))
        code, prob[rows] = predict_batches(model, genre_matrix(tracks).iloc[rows])
        pred[rows] = np.array(classes, object)[code]
    return pd.DataFrame({"track_id": tracks["track_id"].to_numpy(), "genre_pred": pred,
                         "genre_pred_prob": prob.round(4),
                         "genre_filled": np.where(known, labels.to_numpy(), pred)})


def label_source(tracks: pd.DataFrame, memberships: pd.DataFrame) -> pd.DataFrame:
    """Where genre labels come from: playlists, else the track table's own genre column."""
    if memberships["genre"].notna().any():
        return memberships
    return tracks[["track_id", "genre"]].assign(playlist_id=tracks["track_id"])
