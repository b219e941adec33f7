# Catalog Explorer: the dashboard on port 8501; the cache is built on first start.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CACHE_DIR=/app/cache/build NUMBA_CACHE_DIR=/tmp/numba
WORKDIR /app

# libgomp: LightGBM's OpenMP runtime; gcc only in case a wheel is missing for this platform.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 gcc g++ \
 && rm -rf /var/lib/apt/lists/*

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY pipeline/ pipeline/
COPY dashboard/ dashboard/
COPY .streamlit/ .streamlit/
RUN mkdir -p data/raw cache

# Mount a volume on /app/cache to keep the builds between runs (CACHE_DIR is a link inside
# it that a finished build switches atomically; a mount point itself cannot be switched).
# On offline hosts put a local copy of the catalog at /app/data/raw/spotify_songs.csv
# (or set CATALOG).
VOLUME ["/app/cache"]
EXPOSE 8501
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health')"
CMD ["sh", "dashboard/entrypoint.sh"]
