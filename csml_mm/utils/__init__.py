from .checkpoint import (
    AtomicLocalBackend,
    CheckpointLoadError,
    UnreadableCheckpointError,
    UnsafeCheckpointError,
    checkpoint_safe_globals,
    install_checkpoint_io,
    register_safe_globals,
    safe_torch_load,
)
from .config_check import check_config, find_key_typos
from .dist import default_backend, exit_after_distributed_run, init_dist_for_launcher
from .paths import get_config_path, package_path

__all__ = [
    'AtomicLocalBackend',
    'CheckpointLoadError',
    'UnreadableCheckpointError',
    'UnsafeCheckpointError',
    'checkpoint_safe_globals',
    'install_checkpoint_io',
    'register_safe_globals',
    'safe_torch_load',
    'check_config',
    'find_key_typos',
    'default_backend',
    'exit_after_distributed_run',
    'init_dist_for_launcher',
    'get_config_path',
    'package_path',
]
