"""Errors a user can fix without reading a traceback (bad data, a diverged run).

Each derives from the builtin exception that callers already catch (``FileNotFoundError``,
``ValueError``, ``OSError``, ``FloatingPointError``), so existing handlers keep working;
the command-line tools print them as one ``error: ...`` line (:mod:`csml_mm.utils.cli`).
Checkpoint errors live in :mod:`csml_mm.utils.checkpoint` (:class:`CheckpointLoadError`).
"""


class DataCheckError(Exception):
    """Base class of the data problems found before or during training."""


class MissingDataError(DataCheckError, FileNotFoundError):
    """A data root, annotation file or image listed by an annotation file does not exist."""


class EmptyDataError(DataCheckError, ValueError):
    """The training set is empty, or smaller than one batch with ``drop_last=True``."""


class CorruptImageError(DataCheckError, OSError):
    """An image file cannot be decoded (empty, truncated, not an image)."""

    def __init__(self, message: str, path: str = '') -> None:
        super().__init__(message)
        self.path = path

    def __str__(self) -> str:  # OSError would format (errno, strerror) pairs
        return self.args[0] if self.args else ''


class NonFiniteTrainingError(FloatingPointError):
    """A loss or gradient became NaN/Inf and training was stopped before the weights were."""


class StackError(ImportError):
    """The installed OpenMMLab stack lacks what a tool needs (mmdet, mmcv's compiled ops)."""
