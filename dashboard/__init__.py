"""Catalog Explorer dashboard (Streamlit pages over pipeline/ modules)."""
