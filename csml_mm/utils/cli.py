"""One-line ``error: ...`` messages for the command-line tools in ``tools/``."""

import os
import re
import sys
from contextlib import contextmanager
from typing import Iterator, Tuple, Type


def user_errors() -> Tuple[Type[BaseException], ...]:
    """The exception types whose message alone tells the user what to fix."""
    from .checkpoint import CheckpointLoadError
    from .errors import DataCheckError, NonFiniteTrainingError, StackError

    return CheckpointLoadError, DataCheckError, NonFiniteTrainingError, StackError


def one_line(exc: BaseException) -> str:
    """The message of ``exc``; for an error re-raised from a dataloader worker (whose text is
    the worker's traceback), the original message only."""
    text = str(exc).strip()
    if 'Original Traceback' in text:
        last = [ln for ln in text.splitlines() if ln.strip()][-1].strip()
        text = re.sub(rf'^([\w.]+\.)?{type(exc).__name__}: ', '', last)
    return text


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn :func:`user_errors` into ``error: <message>`` on stderr and exit status 1.

    Other exceptions keep their traceback; ``CSML_TRACEBACK=1`` keeps it for these too.
    """
    try:
        yield
    except user_errors() as exc:
        if os.environ.get('CSML_TRACEBACK', '') not in ('', '0'):
            raise
        sys.stderr.flush()
        raise SystemExit(f'error: {one_line(exc)}') from None
