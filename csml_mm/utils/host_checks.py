"""Where the data-dependent input checks of the heads and backbones run.

Checks such as "every row has a positive" or "patch ids lie on the grid" read a tensor's
values on the host. On a CPU that read is free; on a GPU each one is a device-to-host
synchronisation that stalls the step (docs/reliability.md, "Host reads"). The checks guard
against programming and configuration errors, which show on the first CPU step (the test
suite and ``--cfg-options`` debugging runs are on the CPU) and, on a GPU, still end in a
non-finite loss that the ``NonFiniteLossHook`` stops.

``CSML_MM_HOST_CHECKS`` chooses:

- ``auto`` (default): run the checks on CPU tensors, skip them on accelerators;
- ``1``: always run them (debugging on a GPU; costs a sync per check);
- ``0``: never run them.
"""

import os

import torch

__all__ = ['host_checks_enabled', 'HOST_CHECKS_ENV']

HOST_CHECKS_ENV = 'CSML_MM_HOST_CHECKS'


def host_checks_enabled(t: torch.Tensor) -> bool:
    """Whether a check that reads ``t``'s values on the host should run."""
    mode = os.environ.get(HOST_CHECKS_ENV, 'auto').strip().lower()
    if mode in ('1', 'always', 'true', 'on'):
        return True
    if mode in ('0', 'never', 'false', 'off'):
        return False
    if mode != 'auto':
        raise ValueError(f'{HOST_CHECKS_ENV}={mode!r}: use auto, 1 or 0.')
    return t.device.type == 'cpu'
