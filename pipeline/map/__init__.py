"""The map: track embeddings (torch), the neighbour index, the 2-D projection (UMAP),
clusters (HDBSCAN) and the cluster profiles that name them."""
from .alignment import (
                        Similarity,
                        displacement_share,
                        kept_share,
                        match_clusters,
                        procrustes,
                        relabel,
                        remap_columns,
                        remap_list,
)
from .assign import assign_labels
from .carry import Carried, carry_labels, neighbour_membership, partition_figures
from .clustering import (
                        NOT_PREVIOUS,
                        ClusterFit,
                        ClusterResult,
                        build_clusters,
                        effective_min_cluster_size,
                        finish_clusters,
                        fit_clusters,
                        kmeans_baseline,
                        playlist_genres,
                        score,
                        soft_membership,
)
from .embedding import (
                        EmbeddingResult,
                        Groups,
                        build_embedding,
                        embed_with,
                        encode,
                        fit_embedding,
                        make_encoder,
                        retrieval_precision,
                        train_encoder,
                        training_groups,
)
from .neighbors import (
                        NeighborIndex,
                        build_neighbors,
                        knn,
                        neighbors_report,
                        search_rows,
                        unit_rows,
                        update_graph,
)
from .profiles import (
                        NOISE,
                        NOISE_NAME,
                        PROFILE_FEATURES,
                        cluster_label,
                        cluster_names,
                        cluster_summary,
                        column_values,
                        compare_clusters,
                        describe_profile,
                        feature_profile,
                        representative_tracks,
                        top_values,
)
from .projection import Warm, build_projection, place, place_from, sample_rows, warm_init, warm_up

__all__ = ["Similarity", "assign_labels", "Carried", "carry_labels", "neighbour_membership",
           "partition_figures", "displacement_share", "embed_with", "kept_share", "match_clusters",
           "procrustes", "relabel", "remap_columns", "remap_list", "search_rows", "update_graph",
           "NOT_PREVIOUS", "Warm", "warm_init", "ClusterResult", "EmbeddingResult", "Groups", "NOISE", "NOISE_NAME", "NeighborIndex",
           "PROFILE_FEATURES", "build_clusters", "build_embedding", "build_neighbors",
           "build_projection", "cluster_label", "cluster_names", "cluster_summary",
           "compare_clusters", "describe_profile", "encode", "feature_profile",
           "kmeans_baseline", "knn", "make_encoder", "place", "playlist_genres",
           "representative_tracks", "retrieval_precision", "score", "soft_membership", "top_values", "column_values", "train_encoder",
           "training_groups", "unit_rows", "warm_up", "fit_embedding", "neighbors_report",
           "place_from", "sample_rows", "ClusterFit", "fit_clusters", "finish_clusters",
           "effective_min_cluster_size"]
