"""`pip install .` (not editable) into an existing OpenMMLab environment, then training with the
installed `csml_mm/.mim/tools/train.py` on a config found through the installed package, from a
folder outside the repository.

The existing environment is a throw-away venv that sees the stack of the interpreter running
the tests through a `.pth` bridge, minus csml_mm's own editable hook, so only the freshly
installed copy can provide csml_mm. Everything is offline (`--no-index`, no build isolation).
"""

import importlib.util
import json
import os
import os.path as osp
import shutil
import site
import subprocess
import sys
from typing import Dict, List

import pytest

from csml_mm.utils import get_config_path, package_path

pytestmark = pytest.mark.slow  # every test here trains or spawns processes

CONFIG = 'mocov2/mocov2_resnet18-w16_1xb64-coslr-12e_digits.py'
# 64 images in batches of 16 (drop_last): 4 iterations, one checkpoint, no kNN hook.
SHRINK = [
    'train_cfg.max_epochs=1',
    'train_dataloader.dataset.indices=64',
    'train_dataloader.batch_size=16',
    'train_dataloader.num_workers=0',
    'train_dataloader.persistent_workers=False',
    'model.queue_len=64',
    'custom_hooks=[]',
    'default_hooks.logger.interval=1',
    'default_hooks.checkpoint.interval=1',
]
# Top-level entries of the checkout that a build does not need (environments, outputs, VCS).
NOT_COPIED = {'work_dirs', 'build', 'dist', 'data', 'tests', 'docs'}
REPORT_MARK = 'CSML_MM_IMPORT_REPORT '
# Loaded by a .pth in the throw-away venv: on exit, each interpreter started with
# CSML_MM_TEST_REPORT=1 prints where its csml_mm modules came from.
REPORT_MODULE = (
    """\
import atexit, json, os, sys


def _report():
    files = sorted(getattr(m, '__file__', None) or '' for name, m in list(sys.modules.items())
                   if name == 'csml_mm' or name.startswith('csml_mm.'))
    sys.stderr.write(%r + json.dumps(dict(argv0=sys.argv[0], files=files)) + '\\n')


if os.environ.get('CSML_MM_TEST_REPORT'):
    atexit.register(_report)
"""
    % REPORT_MARK
)


def _run(cmd: List[str], cwd: str, env: Dict[str, str], timeout: int) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'{" ".join(cmd)} failed ({proc.returncode}):\n{out[-4000:]}'
    return out


def _copy_checkout(repo_root: str, dst: str) -> None:
    """Copy the sources a build needs, so that building never writes into the shared checkout."""

    def ignore(folder: str, names: List[str]) -> List[str]:
        top = osp.samefile(folder, repo_root)
        return [
            n
            for n in names
            if n == '__pycache__'
            or n.endswith(('.pyc', '.pyo'))
            or (top and (n.startswith('.') or n in NOT_COPIED or n.endswith('.egg-info')))
        ]

    shutil.copytree(repo_root, dst, ignore=ignore)


def _stack_dirs() -> List[str]:
    """Site-packages folders of the interpreter running the tests (the existing stack)."""
    dirs = list(site.getsitepackages())
    if site.ENABLE_USER_SITE and osp.isdir(site.getusersitepackages()):
        dirs.append(site.getusersitepackages())
    return [d for d in dict.fromkeys(dirs) if osp.isdir(d)]


def _bridge_stack(new_site: str, repo_root: str) -> List[str]:
    """Make the stack visible in ``new_site`` without csml_mm's own install; return what was
    left out (editable hooks and paths into the checkout)."""
    left_out = []
    stack = _stack_dirs()
    for d in stack:
        for name in sorted(os.listdir(d)):
            if not name.endswith('.pth'):
                continue
            if 'csml_mm' in name.lower():
                left_out.append(osp.join(d, name))  # __editable__.csml_mm-*.pth
                continue
            kept = []
            with open(osp.join(d, name)) as f:
                for line in f:
                    line = line.rstrip('\n')
                    if (
                        line.startswith(('import ', 'import\t'))
                        or not line.strip()
                        or line.startswith('#')
                    ):
                        if 'csml_mm' in line:
                            left_out.append(f'{name}: {line}')
                        else:
                            kept.append(line)
                        continue
                    path = osp.abspath(osp.join(d, line))  # .pth paths are relative to d
                    if osp.realpath(path) == osp.realpath(repo_root):
                        left_out.append(f'{name}: {line}')  # setup.py develop / egg-link
                    else:
                        kept.append(path)
            with open(osp.join(new_site, name), 'w') as f:
                f.write('\n'.join(kept) + '\n')
    # Plain path lines, appended to sys.path after new_site (their own .pth files are not run);
    # named to be processed before the copied .pth files, which may import from the stack.
    with open(osp.join(new_site, '00_existing_stack.pth'), 'w') as f:
        f.write('\n'.join(stack) + '\n')
    with open(osp.join(new_site, '_csml_mm_import_report.py'), 'w') as f:
        f.write(REPORT_MODULE)
    with open(osp.join(new_site, 'zzz_csml_mm_import_report.pth'), 'w') as f:
        f.write('import _csml_mm_import_report\n')
    return left_out


def _site_packages(python: str, env: Dict[str, str]) -> str:
    out = _run(
        [python, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
        cwd=osp.dirname(python),
        env=env,
        timeout=60,
    )
    return out.strip().splitlines()[-1]


def test_package_path_in_the_checkout(repo_root):
    """In the checkout (editable install / PYTHONPATH) the shipped folders are the checkout's."""
    pkg = osp.join(repo_root, 'csml_mm')
    assert not osp.exists(osp.join(pkg, '.mim')), (
        'setup.py must copy configs/tools into the build folder, not into the source tree'
    )
    assert package_path() == repo_root
    assert package_path('tools', 'train.py') == osp.join(repo_root, 'tools', 'train.py')
    assert get_config_path(CONFIG) == osp.join(repo_root, 'configs', CONFIG)
    assert get_config_path('configs/' + CONFIG) == get_config_path(CONFIG)
    with pytest.raises(FileNotFoundError, match='not shipped with csml_mm.*searched'):
        package_path('configs', 'no_such_method', 'nothing.py')
    with pytest.raises(FileNotFoundError, match='is not a config file'):
        get_config_path('mocov2')
    with pytest.raises(ValueError, match='relative to the package root'):
        package_path(osp.join(repo_root, 'tools'))


@pytest.mark.skipif(
    importlib.util.find_spec('pip') is None or importlib.util.find_spec('setuptools') is None,
    reason='pip and setuptools are needed to build and install the package',
)
def test_pip_install_into_existing_env_and_train_from_installed_tools(repo_root, tmp_path):
    venv, src, run_dir = str(tmp_path / 'venv'), str(tmp_path / 'src'), str(tmp_path / 'run')
    os.makedirs(run_dir)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ('PYTHONPATH', 'PYTHONHOME', 'PYTHONSTARTUP', 'VIRTUAL_ENV')
        and not k.startswith('PIP_')
    }
    env.update(
        PYTHONNOUSERSITE='1',
        PYTHONUNBUFFERED='1',
        PIP_NO_INDEX='1',
        PIP_DISABLE_PIP_VERSION_CHECK='1',
        PIP_NO_INPUT='1',
    )
    env.setdefault('OMP_NUM_THREADS', '1')

    # 1. The "existing environment": a venv that sees the stack but not csml_mm.
    _run(
        [sys.executable, '-m', 'venv', '--without-pip', venv],
        cwd=str(tmp_path),
        env=env,
        timeout=120,
    )
    python = osp.join(venv, 'bin', 'python')
    env['PATH'] = osp.join(venv, 'bin') + os.pathsep + env.get('PATH', '')
    new_site = _site_packages(python, env)
    assert osp.realpath(new_site).startswith(osp.realpath(venv)), new_site
    left_out = _bridge_stack(new_site, repo_root)
    probe = (
        'import importlib.util as u, sys; '
        'print({m: u.find_spec(m) is not None for m in sys.argv[1:]})'
    )
    found = _run(
        [python, '-c', probe, 'csml_mm', 'mmpretrain', 'mmengine', 'pip'],
        cwd=run_dir,
        env=env,
        timeout=120,
    )
    assert found.strip().splitlines()[-1] == str(
        {'csml_mm': False, 'mmpretrain': True, 'mmengine': True, 'pip': True}
    ), f'the throw-away env must see the stack but not csml_mm (left out: {left_out}):\n{found}'

    # 2. pip install . from a copy of the checkout (builds write build/ and *.egg-info next
    # to setup.py). --ignore-installed: do not consider the bridged env's csml_mm for removal.
    _copy_checkout(repo_root, src)
    _run(
        [
            python,
            '-m',
            'pip',
            'install',
            '--no-deps',
            '--no-build-isolation',
            '--no-index',
            '--no-cache-dir',
            '--ignore-installed',
            '.',
        ],
        cwd=src,
        env=env,
        timeout=300,
    )
    assert not osp.exists(osp.join(src, 'csml_mm', '.mim')), 'the build wrote into the sources'
    shutil.rmtree(src)  # what follows can only use the installed files

    installed = osp.join(new_site, 'csml_mm')
    names = os.listdir(new_site)
    assert not [n for n in names if n.startswith('__editable__') or n.endswith('.egg-link')], (
        f'an editable install was made: {names}'
    )
    for rel in (
        'tools/train.py',
        'tools/dist_train.sh',
        'configs/' + CONFIG,
        'configs/_base_/datasets/digits_bs64_mocov2.py',
    ):
        path = osp.join(installed, '.mim', rel)
        assert osp.isfile(path) and not osp.islink(path), f'{rel} is not shipped as a file'
    dist_info = [n for n in names if n.startswith('csml_mm-') and n.endswith('.dist-info')]
    assert len(dist_info) == 1, names
    with open(osp.join(new_site, dist_info[0], 'METADATA')) as f:
        meta = f.read()
    assert 'Provides-Extra: faiss' in meta and 'faiss-cpu; extra == "faiss"' in meta.replace(
        ' ; ', '; '
    ), meta[:2000]

    # 3. Find the tool and the config through the installed package, outside the repository.
    # (mmengine's `pkg::` base-config prefix is limited to its own list of packages.)
    where = (
        'import json, csml_mm; from csml_mm.utils import get_config_path, package_path; '
        f'print(json.dumps([csml_mm.__file__, package_path("tools", "train.py"), '
        f'get_config_path({CONFIG!r})]))'
    )
    pkg_file, train_py, config = json.loads(
        _run([python, '-c', where], cwd=run_dir, env=env, timeout=300).strip().splitlines()[-1]
    )
    assert pkg_file == osp.join(installed, '__init__.py'), pkg_file
    assert train_py == osp.join(installed, '.mim', 'tools', 'train.py'), train_py
    assert config == osp.join(installed, '.mim', 'configs', CONFIG), config

    # 4. Train a few iterations with the installed script.
    out = _run(
        [python, train_py, config, '--work-dir', 'wd', '--cfg-options', *SHRINK],
        cwd=run_dir,
        env=dict(env, CSML_MM_TEST_REPORT='1'),
        timeout=600,
    )
    reports = [
        json.loads(line[len(REPORT_MARK) :])
        for line in out.splitlines()
        if line.startswith(REPORT_MARK)
    ]
    main = [r for r in reports if r['argv0'] == train_py]
    assert len(main) == 1, f'no import report from {train_py}:\n{out[-3000:]}'
    files = main[0]['files']
    assert osp.join(installed, '__init__.py') in files, files
    strays = [f for f in files if not f.startswith(installed + os.sep)]
    assert not strays, f'csml_mm modules not from the installed copy: {strays}'
    assert 'Epoch(train) [1][4/4]' in out, out[-3000:]
    ckpt = osp.join(run_dir, 'wd', 'epoch_1.pth')
    assert osp.isfile(ckpt), os.listdir(osp.join(run_dir, 'wd'))
    logs = [
        osp.join(dp, n)
        for dp, _, ns in os.walk(osp.join(run_dir, 'wd'))
        for n in ns
        if n.endswith('.log')
    ]
    assert len(logs) == 1, logs
    with open(logs[0]) as f:
        assert f.read().count('Epoch(train) [1]') == 4, logs[0]
