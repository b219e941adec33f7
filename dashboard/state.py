"""Session-state keys shared between pages.

Plain keys, not widget keys, so that they survive moving between pages.
"""
MAP_SELECTION = "map_selection"        # list[str] of track ids selected on the map
PLAYLIST = "current_playlist"          # dict(tracks=records, smoothness, report, recipe)
SEED_TRACK = "seed_track"              # track id chosen on the recommendations page
