"""What a stage runner sees: the config, the catalog files, and upstream artifacts by name."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.config import PipelineConfig, stage_seed
from pipeline.store import load_artifact


class Context:
    """Artifacts are read from the cache directory on first use and kept in memory."""

    def __init__(self, cache: Path, cfg: PipelineConfig, catalog: list[Path]):
        self.cache, self.cfg, self.catalog = cache, cfg, catalog
        self._memo: dict[str, Any] = {}

    def get(self, name: str) -> Any:
        if name not in self._memo:
            self._memo[name] = load_artifact(self.cache / name)
        return self._memo[name]

    def put(self, name: str, value: Any) -> None:
        self._memo[name] = value

    def seed(self, stage: str) -> int:
        return stage_seed(self.cfg.seed, stage)
