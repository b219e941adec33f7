"""The hybrid recommender: candidates and rank features, the LightGBM rankers, the genre
classifier, playlist co-occurrence, explanations, the feedback store and retraining.

``Recommender.load(cache_dir)`` serves recommendations from a built cache."""
from .cooccurrence import Cooccurrence, lookup
from .explain import STEER_RANGES, validate_steer
from .feedback import ENV_URL, FeedbackStore, default_url
from .genre import build_genre, evaluate_genre, track_labels
from .rank_features import (
                            Signals,
                            build_signals,
                            candidates,
                            feature_columns,
                            kmeans_labels,
                            pair_features,
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
)
from .recommender import COLUMNS, COMPARE_METHODS, MODES, Recommender
from .retrain import retrain_from_feedback

__all__ = ["COLUMNS", "COMPARE_METHODS", "Cooccurrence", "ENV_URL", "FeedbackStore",
           "LabelledSeeds", "MODES", "NO_MODEL", "RankerModels", "Recommender", "STEER_RANGES",
           "Signals", "build_genre", "build_signals", "candidates", "default_url",
           "evaluate_genre", "feature_columns", "fit_signals", "kmeans_labels", "lookup",
           "model_texts", "pair_features", "rank_rows", "retrain_from_feedback",
           "sample_seeds", "score_pairs", "split_playlists", "track_labels", "train_rankers",
           "validate_steer"]
