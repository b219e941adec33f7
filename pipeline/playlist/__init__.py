"""Playlists: the engine that fills a request from a built cache, the ordering strategies,
and the exports (CSV, M3U8, XSPF, Spotify URIs, a recipe that reproduces the list)."""
from .engine import (
                     ORDERINGS,
                     PlaylistRequest,
                     PlaylistResult,
                     generate_playlist,
                     make_recipe,
                     recipe_mismatch,
                     request_from_recipe,
)
from .exports import EXPORTERS, XSPF_NS, spotify_id, to_csv, to_m3u8, to_recipe_json, to_xspf
from .ordering import curve_from_points

__all__ = ["EXPORTERS", "ORDERINGS", "PlaylistRequest", "PlaylistResult", "XSPF_NS",
           "curve_from_points", "generate_playlist", "make_recipe", "recipe_mismatch", "request_from_recipe",
           "spotify_id", "to_csv", "to_m3u8", "to_recipe_json", "to_xspf"]
