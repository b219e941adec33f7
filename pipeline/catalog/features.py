"""Features stage: the canonical track table -> a scaled numeric matrix.

``key`` becomes a point on the pitch circle (sin, cos), so
B (11) sits next to C (0); ``mode`` stays binary; heavily skewed columns are log-scaled
before standardising. Columns a catalog lacks are left out, not invented.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.config import FeatureConfig

LINEAR = ["danceability", "energy", "valence", "acousticness", "loudness", "tempo"]
SKEWED = ["duration_ms", "speechiness", "instrumentalness", "liveness"]


def effective_year(tracks: pd.DataFrame) -> pd.Series:
    """Release year, falling back to the middle of the decade when only that is known."""
    return tracks["year"].fillna(tracks["decade"] + 5)


@dataclass
class FeatureScaler:
    """Fitted feature recipe: which columns, fill values, and standardisation.

    Serialises to plain JSON (``to_dict``/``from_dict``) so it can be fitted on a sample
    and applied to other partitions of a large catalog.
    """

    config: FeatureConfig = field(default_factory=FeatureConfig)
    columns_: list[str] = field(default_factory=list)
    fill_: dict[str, float] = field(default_factory=dict)
    mean_: list[float] = field(default_factory=list)
    scale_: list[float] = field(default_factory=list)
    names_: list[str] = field(default_factory=list)

    def fit(self, tracks: pd.DataFrame) -> FeatureScaler:
        raw = _raw_columns(tracks, self.config)
        self.columns_ = [c for c in raw.columns if raw[c].notna().any()]
        self.fill_ = {c: float(raw[c].median()) for c in self.columns_}
        x = self._expand(raw)
        self.mean_ = x.mean(axis=0).tolist()
        self.scale_ = np.where(x.std(axis=0) > 1e-9, x.std(axis=0), 1.0).tolist()
        return self

    def transform(self, tracks: pd.DataFrame) -> np.ndarray:
        """Scaled features, shape (n_tracks, n_features), float32."""
        x = self._expand(_raw_columns(tracks, self.config))
        return ((x - np.array(self.mean_)) / np.array(self.scale_)).astype(np.float32)

    def _expand(self, raw: pd.DataFrame) -> np.ndarray:
        cols, names = [], []
        for c in self.columns_:
            v = raw[c].fillna(self.fill_[c]).to_numpy(float)
            if c == "key":
                angle = 2 * np.pi * v / 12.0
                cols += [np.sin(angle), np.cos(angle)]
                names += ["key_sin", "key_cos"]
                continue
            if c in self.config.log_columns:
                v = np.log(v + (1e3 if c == "duration_ms" else 1e-3))
            cols.append(v)
            names.append(c)
        self.names_ = names
        return np.column_stack(cols)

    def to_dict(self) -> dict:
        return {"config": self.config.model_dump(), "columns": self.columns_, "fill": self.fill_,
                "mean": self.mean_, "scale": self.scale_, "names": self.names_}

    @classmethod
    def from_dict(cls, d: dict) -> FeatureScaler:
        return cls(FeatureConfig(**d["config"]), d["columns"], d["fill"], d["mean"], d["scale"],
                   d["names"])


def _raw_columns(tracks: pd.DataFrame, cfg: FeatureConfig) -> pd.DataFrame:
    cols = [*LINEAR, *SKEWED, "key", "mode"]
    raw = tracks.reindex(columns=cols).astype(float)
    if cfg.include_year:
        raw["year"] = effective_year(tracks).astype(float)
    if cfg.include_popularity:
        raw["popularity"] = tracks["popularity"].astype(float)
    return raw


def build_features(tracks: pd.DataFrame, cfg: FeatureConfig) -> tuple[np.ndarray, FeatureScaler]:
    """Fit the scaler on the catalog and return (features (n_tracks, n_features), scaler)."""
    scaler = FeatureScaler(cfg).fit(tracks)
    return scaler.transform(tracks), scaler
