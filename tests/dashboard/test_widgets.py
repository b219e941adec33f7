"""Shared widgets' pure helpers: track links built only from encoded catalog text."""
from urllib.parse import parse_qs, urlparse

import pandas as pd

from dashboard.widgets import with_youtube, youtube_url


def test_youtube_search_link_is_encoded_text():
    hostile = '<img src=x onerror=alert(1)>) [x](javascript:alert(1)) "q"&a=b'
    url = youtube_url("AC/DC", hostile)
    parts = urlparse(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "www.youtube.com", "/results")
    assert parse_qs(parts.query) == {"search_query": [f"AC/DC - {hostile}"]}
    assert not set(url) & set('<>()[]" ')            # nothing markup or markdown could read


def test_with_youtube_adds_one_link_per_row():
    df = pd.DataFrame({"track_name": ["Levels", "Animals"], "artist": ["Avicii", "Martin Garrix"]})
    out = with_youtube(df)
    assert out["youtube_url"].tolist() == [youtube_url("Avicii", "Levels"),
                                           youtube_url("Martin Garrix", "Animals")]
    assert "youtube_url" not in df
