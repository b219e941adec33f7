"""The hybrid recommender: candidates and rank features, the LightGBM rankers, the genre
classifier, playlist co-occurrence, explanations, the feedback store and retraining.

``Recommender.load(cache_dir)`` serves recommendations from a built cache."""
from .cooccurrence import Cooccurrence, lookup
from .explain import STEER_RANGES, validate_steer
from .feedback import ENV_URL, FeedbackStore, default_url
from .genre import (
    GENRE_FEATURES,
    apply_genre,
    build_genre,
    evaluate_genre,
    fit_genre_model,
    label_source,
    track_labels,
)
from .labels import label_signals, neighbour_labels
from .rank_features import (
                            RowGroups,
                            Signals,
                            build_signals,
                            candidates,
                            feature_columns,
                            kmeans_labels,
                            pair_features,
                            pair_matrix,
)
from .ranker import (
                            NO_MODEL,
                            LabelledSeeds,
                            RankerModels,
                            fit_signals,
                            model_texts,
                            rank_rows,
                            sample_seeds,
                            score_pairs,
                            split_playlists,
                            train_rankers,
                            training_universe,
)
from .recommender import COLUMNS, COMPARE_METHODS, MODES, Recommender
from .retrain import retrain_from_feedback
from .search import TrackSearch
from .serving import extend_rank_signals, load_signals, rank_signals

__all__ = ["apply_genre", "fit_genre_model", "GENRE_FEATURES", "extend_rank_signals", "label_source",
           "COLUMNS", "COMPARE_METHODS", "Cooccurrence", "ENV_URL", "FeedbackStore",
           "LabelledSeeds", "MODES", "NO_MODEL", "RankerModels", "Recommender", "RowGroups",
           "STEER_RANGES", "Signals", "TrackSearch", "build_genre", "build_signals", "candidates",
           "default_url", "evaluate_genre", "feature_columns", "fit_signals", "kmeans_labels",
           "label_signals", "load_signals", "lookup", "model_texts", "neighbour_labels",
           "pair_features", "pair_matrix", "rank_rows", "rank_signals",
           "retrain_from_feedback", "sample_seeds", "score_pairs", "split_playlists",
           "track_labels", "train_rankers", "training_universe", "validate_steer"]
