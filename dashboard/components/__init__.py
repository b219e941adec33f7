"""Custom Streamlit components: the Cluster map (``map_view``), drawn in the browser from
per-build files (``dashboard.map_files``)."""
from dashboard.components.map_view import map_view

__all__ = ["map_view"]
