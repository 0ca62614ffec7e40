"""Fixtures of the crash/resume tests: the uninterrupted reference runs, made once."""

from pathlib import Path
from typing import Callable, Dict

import pytest
from reliability_helpers import train, write_config


@pytest.fixture(scope='session')
def reference(repo_root: str, tmp_path_factory) -> Callable[[str], Path]:
    """``reference(algorithm)``: the work dir of that algorithm's uninterrupted run
    (reliability_helpers.EPOCHS epochs, a checkpoint after each), run at most once."""
    runs: Dict[str, Path] = {}

    def get(algorithm: str) -> Path:
        if algorithm not in runs:
            root = tmp_path_factory.mktemp(f'ref_{algorithm}')
            cfg = write_config(repo_root, algorithm, root / 'cfg.py')
            train(repo_root, cfg, root / 'work')
            runs[algorithm] = root / 'work'
        return runs[algorithm]

    return get
