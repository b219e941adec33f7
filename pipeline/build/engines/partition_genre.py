"""The genre stage over partitions of rows: the LightGBM classifier fitted on one worker
(:func:`pipeline.recommend.fit_genre_model`) -> ``genre_model.txt``, then
:func:`pipeline.recommend.apply_genre` on each partition's rows of ``tracks.parquet``, then
``genre_pred.parquet`` put together as the whole stage builds it."""
from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.build.context import Context
from pipeline.store import save_artifact

from .partition_files import cached, n_rows, narrow, part_path, read_rows, scratch

# The track columns the classifier's inputs and predictions read (genre_matrix, title_flags).
TRACK_COLUMNS = ("track_id", "year", "decade", "track_name", "album_name", "artist")
GENRE_NOTE = ("accuracy on random and artist-disjoint splits: see "
              "`python -m pipeline evaluate` (docs/EVALUATION.md)")  # as stages._run_genre


def fit(ctx: Context) -> dict:
    from pipeline.recommend import GENRE_FEATURES, NO_MODEL, fit_genre_model

    narrow(ctx, "tracks.parquet", {"genre", *TRACK_COLUMNS, *GENRE_FEATURES})
    res, labels = fit_genre_model(ctx.get("tracks.parquet"), ctx.get("memberships.parquet"),
                                  ctx.seed("genre"), evaluate=False)
    text = (res.model.model_to_string() if res.model is not None
            else NO_MODEL.format(reason=res.report["reason"]))
    res.report["note"] = GENRE_NOTE
    save_artifact(ctx.cache / "genre_model.txt", text)
    save_artifact(ctx.cache / "genre_report.json", res.report)
    if res.model is None:  # nothing to predict: the table of known labels, whole
        save_artifact(scratch(ctx, "genre") / "whole.parquet", res.predictions)
    else:
        save_artifact(scratch(ctx, "genre") / "labels.parquet",
                      pd.DataFrame({"label": labels.to_numpy()}))
    return {"classes": res.classes, "trained": res.model is not None}


def part(ctx: Context, fit: dict, lo: int, hi: int) -> dict:
    from pipeline.recommend import apply_genre

    if not fit["trained"]:
        return {"paths": []}
    import pyarrow.parquet as pq

    from pipeline.recommend import GENRE_FEATURES

    path = ctx.cache / "genre_model.txt"
    text = cached("genre", [path], path.read_text)
    wanted = {*TRACK_COLUMNS, *GENRE_FEATURES}
    names = pq.ParquetFile(ctx.cache / "tracks.parquet").schema_arrow.names
    tracks = read_rows(ctx.cache / "tracks.parquet", lo, hi,
                       [c for c in names if c in wanted]).to_pandas()
    labels = read_rows(scratch(ctx, "genre") / "labels.parquet", lo, hi, ["label"])
    labels = pd.Series(labels.column("label").to_numpy(zero_copy_only=False), dtype=object)
    out = part_path(ctx, "genre", "genre", lo, hi, ".parquet")
    save_artifact(out, apply_genre(text, fit["classes"], tracks, labels, n_rows(ctx.cache)))
    return {"paths": [str(out)]}


def combine(ctx: Context, fit: dict, parts: list[dict]) -> None:
    """genre_pred.parquet, built as :func:`pipeline.recommend.build_genre` builds it (one
    frame from whole columns, so the inferred column types are the same)."""
    if not fit["trained"]:
        table = pd.read_parquet(scratch(ctx, "genre") / "whole.parquet")
    else:
        frames = [pd.read_parquet(p["paths"][0]) for p in parts]
        col = {c: np.concatenate([f[c].to_numpy(dtype=object if c != "genre_pred_prob"
                                                 else float) for f in frames])
               for c in frames[0].columns}
        for c in ("genre_pred", "genre_filled"):  # a missing value is None, as built whole
            col[c] = np.where(pd.isna(col[c]), None, col[c])
        table = pd.DataFrame(col)
    save_artifact(ctx.cache / "genre_pred.parquet", table)
