"""Row damage and duplicate conflicts on tiny frames."""
from __future__ import annotations

import pandas as pd

from pipeline.catalog.rows import _repeated_header, duplicate_conflicts, source_rows


def test_repeated_header_needs_most_cells_to_repeat_the_names():
    raw = pd.DataFrame({"track_id": ["a", "track_id", "track_id"],
                        "tempo": ["120", "tempo", "99"], "energy": ["0.5", "energy", "0.4"]})
    assert _repeated_header(raw).tolist() == [False, True, False]


def test_source_rows_count_skipped_lines_and_the_sep_line():
    raw = pd.DataFrame({"a": ["1", "2", "3"]})
    raw.attrs["read"] = {"bad_lines": [(4, "x")], "separator_line": True}
    assert source_rows(raw).tolist() == [3, 5, 6]


def test_duplicate_conflicts_counted_per_column():
    rows = pd.DataFrame({"track_id": ["a", "a", "b", "b", "c"],
                         "tempo": [1.0, 2.0, 3.0, 3.0, 4.0], "energy": [0.1, 0.1, 0.2, 0.3, 0.5]})
    assert duplicate_conflicts(rows) == {"ids": 2, "columns": {"tempo": 1, "energy": 1}}
