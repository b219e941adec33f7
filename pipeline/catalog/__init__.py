"""The catalog: where files come from, their schemas, ingest and validation, the model
features, and the aggregates the Trends page reads (live, or precomputed by the build)."""
from .aggregate_reduce import combine_partials
from .aggregate_rows import sample_positions
from .aggregate_views import Aggregates, precomputed, read_aggregates
from .aggregates import (
    AGGREGATE_FEATURES,
    aggregate_outputs,
    build_aggregates,
    chunk_moments,
    chunk_partials,
    first_pass,
    row_inputs,
)
from .aggregates import FILES as AGGREGATE_FILES
from .aggregates import TRACK_COLUMNS as AGGREGATE_COLUMNS
from .features import FeatureScaler, build_features, effective_year
from .ingest import MIN_TRACKS, IngestResult, ingest, normalise_title, parse_release
from .preflight import Preflight, preflight
from .reader import read_catalog_file
from .schemas import AUDIO, CANONICAL, REQUIRED, SCHEMAS, Mapped, Schema, detect, to_canonical
from .sources import DEFAULT_URL, download_default, md5_of, resolve_catalog
from .trends import (
    TREND_FEATURES,
    cluster_share_by_year,
    correlation_matrix,
    feature_by_year,
    feature_distribution,
    filter_tracks,
    key_mode_distribution,
    normalised_trends,
    popularity_by_group,
)

__all__ = ["AGGREGATE_COLUMNS", "AGGREGATE_FEATURES", "AGGREGATE_FILES", "Aggregates", "aggregate_outputs",
           "build_aggregates", "chunk_moments", "chunk_partials", "combine_partials",
           "first_pass", "precomputed", "read_aggregates", "row_inputs", "sample_positions",
           "AUDIO", "CANONICAL", "DEFAULT_URL", "FeatureScaler", "IngestResult", "MIN_TRACKS",
           "Mapped", "Preflight", "REQUIRED",
           "SCHEMAS", "Schema", "TREND_FEATURES", "build_features", "cluster_share_by_year",
           "correlation_matrix", "detect", "download_default", "effective_year",
           "feature_by_year", "feature_distribution", "filter_tracks", "ingest",
           "key_mode_distribution", "md5_of", "normalise_title", "normalised_trends",
           "parse_release", "popularity_by_group", "preflight", "read_catalog_file", "resolve_catalog",
           "to_canonical"]
