#!/usr/bin/env sh
# Container start: build the cache if missing or stale (a no-op when current), then serve.
set -e
python -m pipeline build --cache "${CACHE_DIR:-cache}" ${CATALOG:+--catalog "$CATALOG"}
exec streamlit run dashboard/streamlit_app.py --server.port "${PORT:-8501}" \
  --server.address 0.0.0.0 --server.headless true --browser.gatherUsageStats false
