"""The GPU-machine scripts (tools/device/): syntax, what gpu_quality.sh would run (its dry run,
on a fake wheel folder), its message when the carried folder is missing, and that the wheels
prepare_wheels.sh fetches, with what the GPU image holds, cover every runtime requirement of
the stack, and the device checks run through it on this CPU (slow). Offline: .device_wheels/ is
git-ignored, so a clean clone has none; the check of a filled folder runs only where one
exists."""

import os
import os.path as osp
import re
import subprocess
import warnings
from email.parser import Parser
from importlib import metadata

import pytest

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
DEVICE = osp.join(ROOT, 'tools', 'device')
PREPARE = osp.join(DEVICE, 'prepare_wheels.sh')
GPU = osp.join(DEVICE, 'gpu_quality.sh')
FMNIST_FILES = (
    'train-images-idx3-ubyte.gz',
    'train-labels-idx1-ubyte.gz',
    't10k-images-idx3-ubyte.gz',
    't10k-labels-idx1-ubyte.gz',
)
#: the GPU machine's interpreter: CPython 3.12 on x86-64 Linux
GPU_MARKER_ENV = dict(
    python_version='3.12',
    python_full_version='3.12.3',
    sys_platform='linux',
    platform_system='Linux',
    platform_machine='x86_64',
    os_name='posix',
    implementation_name='cpython',
    platform_python_implementation='CPython',
    extra='',
)
#: the stack whose requirements must be met there (csml_mm's own too)
ROOTS = ('mmcv', 'mmengine', 'mmpretrain', 'csml_mm')


def _canon(name):
    return re.sub(r'[-_.]+', '-', name).lower()


def _names(path):
    """Names of a list file: one a line, '#' starts a comment."""
    out = []
    with open(path) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line:
                out.append(line)
    return out


def _pins():
    pins = {}
    for line in _names(osp.join(ROOT, 'requirements', 'pins.txt')):
        m = re.match(r'^([A-Za-z0-9_.\-]+)==([^;\s]+)$', line)
        if m:
            pins[_canon(m.group(1))] = m.group(2)
    return pins


def _wheel_list():
    """``{canonical name: version}`` of tools/device/wheels.txt, bare names from pins.txt."""
    pins, out = _pins(), {}
    for entry in _names(osp.join(DEVICE, 'wheels.txt')):
        name, _, ver = entry.partition('==')
        key = _canon(name)
        assert key not in out, f'{name} twice in tools/device/wheels.txt'
        out[key] = ver or pins.get(key)
        assert out[key], f'{name} in wheels.txt has no version and pins.txt no pin for it'
    return out


def _image():
    return {_canon(n) for n in _names(osp.join(DEVICE, 'gpu_image_packages.txt'))}


def _run(script, *args, env=None, timeout=60):
    full = dict(os.environ)
    # the switches of the scripts come from the test alone, not from the caller's shell
    for key in list(full):
        if key == 'PYTHONPATH' or key.startswith(('CSML_DEVICE_', 'CSML_GPU_')):
            del full[key]
    full.update(env or {})
    return subprocess.run(
        ['bash', script, *args], cwd=ROOT, env=full, capture_output=True, text=True, timeout=timeout
    )


def _fake_wheels(tmp_path, with_fmnist=True):
    folder = tmp_path / 'wheels'
    folder.mkdir()
    for name in (
        'mmcv_lite-2.1.0-py2.py3-none-any.whl',
        'mmengine-0.10.7-py3-none-any.whl',
        'mmpretrain-1.2.0-py2.py3-none-any.whl',
        'addict-2.4.0-py3-none-any.whl',
    ):
        (folder / name).write_bytes(b'')
    if with_fmnist:
        (folder / 'fashion-mnist').mkdir()
        for name in FMNIST_FILES:
            (folder / 'fashion-mnist' / name).write_bytes(b'')
    return folder


@pytest.mark.parametrize('script', [PREPARE, GPU])
def test_scripts_parse(script):
    proc = subprocess.run(['bash', '-n', script], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr


def test_gpu_quality_dry_run_defaults(tmp_path):
    wheels = _fake_wheels(tmp_path)
    proc = _run(
        GPU,
        '--dry-run',
        env=dict(CSML_DEVICE_WHEELS=str(wheels), CSML_DEVICE_SITE='/tmp/site', PYTHON='python3'),
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f'PYTHONPATH=/tmp/site:{ROOT}'
    assert lines[1] == f'FASHION_MNIST_ROOT={wheels}/fashion-mnist'
    pip = lines[2].split()
    assert pip[:4] == ['python3', '-m', 'pip', 'install']
    assert {'--no-index', '--no-deps'} <= set(pip)
    assert pip[pip.index('--target') + 1] == '/tmp/site'
    assert sorted(osp.basename(p) for p in pip if p.endswith('.whl')) == sorted(
        p.name for p in wheels.glob('*.whl')
    )
    assert lines[3] == (
        'timeout -k 20 540 python3 tools/benchmarks/bench_quality.py --pairs wcl '
        '--seeds 0 --epochs 12 --out-dir docs/results/gpu '
        '--work-dir /tmp/csml_quality_gpu'
    )


def test_gpu_quality_passes_arguments_through(tmp_path):
    wheels = _fake_wheels(tmp_path)
    env = dict(
        CSML_DEVICE_WHEELS=str(wheels),
        CSML_DEVICE_DRY_RUN='1',
        PYTHON='python3',
        CSML_GPU_TIME_LIMIT_S='0',
    )
    proc = _run(GPU, '--epochs', '50', '--pairs', 'csml', '--out-dir', '/x/report', env=env)
    assert proc.returncode == 0, proc.stderr
    bench = proc.stdout.splitlines()[3]
    # no timeout, the caller's out-dir (given once), the default work-dir
    assert bench == (
        'python3 tools/benchmarks/bench_quality.py --epochs 50 --pairs csml '
        '--out-dir /x/report --work-dir /tmp/csml_quality_gpu'
    )


@pytest.mark.parametrize(
    'switch, args, tool, expected',
    [
        (
            'CSML_GPU_SPEED',
            '--methods wcl --sizes fmnist',
            'bench_speed.py',
            'speed first: timeout -k 20 240 python3 tools/benchmarks/bench_speed.py --methods wcl '
            '--sizes fmnist --out-dir docs/results',
        ),
        (
            'CSML_GPU_CHECKS',
            '--families wcl',
            'gpu_checks.py',
            'checks first: timeout -k 20 200 python3 tools/device/gpu_checks.py --families wcl '
            '--out {out}/gpu_checks.json',
        ),
    ],
)
def test_gpu_quality_runs_a_step_first_when_asked(tmp_path, switch, args, tool, expected):
    """The speed table and the device checks run before the quality runs, only when their
    switch is set, with their own arguments (``<switch>_ARGS``) and time limit."""
    wheels = _fake_wheels(tmp_path)
    out = tmp_path / 'OUT'
    env = dict(
        CSML_DEVICE_WHEELS=str(wheels), CSML_DEVICE_DRY_RUN='1', PYTHON='python3', OUT=str(out)
    )
    proc = _run(GPU, env=env)
    assert proc.returncode == 0, proc.stderr
    assert tool not in proc.stdout  # off unless asked
    proc = _run(GPU, env=dict(env, **{switch: '1', f'{switch}_ARGS': args}))
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if tool in ln]
    assert lines == [expected.format(out=out)]
    # the quality command is still the fourth line
    assert 'bench_quality.py' in proc.stdout.splitlines()[3]


@pytest.mark.slow
def test_gpu_quality_device_checks_run_and_come_back(tmp_path):
    """The device checks for real, on this CPU (the interpreter's own stack, one family):
    gpu_quality.sh runs tools/device/gpu_checks.py first and leaves its table and record in
    $OUT; fp16 with a live loss scaler resumes exactly here, and the NaN fault stops the run."""
    import json
    import sys

    import torch

    if torch.cuda.is_available():
        pytest.skip('asserts what a CPU gives (an exact resume); on a GPU run the script itself')
    wheels = _fake_wheels(tmp_path)
    out = tmp_path / 'OUT'
    out.mkdir()
    env = dict(
        CSML_DEVICE_WHEELS=str(wheels),
        CSML_DEVICE_SITE=str(tmp_path / 'site'),
        CSML_DEVICE_SKIP_INSTALL='1',
        PYTHON=sys.executable,
        OUT=str(out),
        CSML_DEVICE_WORK_IN=str(tmp_path / 'absent'),
        CSML_GPU_TIME_LIMIT_S='0',
        CSML_GPU_CHECKS='1',
        CSML_GPU_CHECKS_LIMIT_S='0',
        CSML_GPU_CHECKS_ARGS='--families mocov2 --jobs 1',
    )
    args = ('--report-only', '--out-dir', str(tmp_path / 'report'))
    proc = _run(GPU, *args, '--work-dir', str(tmp_path / 'work'), env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert 'device checks: every family passed' in proc.stdout, proc.stdout[-3000:]
    record = json.loads((out / 'gpu_checks.json').read_text())
    assert record['device'].startswith('CPU')
    (result,) = record['results']
    assert result['family'] == 'mocov2' and result['passed'], result
    resume = result['resume']
    assert resume['exact'] and resume['scaler_equal'] and resume['iter_split'] == 8
    assert resume['scaler']['scale'] != 1024.0  # the scaler's state moved: resume restored it
    assert result['fault']['stopped'] and result['fault']['checkpoints'] == ['epoch_1.pth']
    table = (out / 'gpu_checks.txt').read_text()
    assert '| mocov2 | float16 | yes | yes | 0 | yes | epoch_1.pth | yes |' in table, table


def test_gpu_quality_runs_groups_side_by_side(tmp_path):
    """'--and' splits the arguments into groups, one bench_quality.py each (run at the same
    time), with the defaults filled in per group and one report rebuilt at the end."""
    wheels = _fake_wheels(tmp_path)
    env = dict(CSML_DEVICE_WHEELS=str(wheels), PYTHON='python3', CSML_GPU_TIME_LIMIT_S='300')
    proc = _run(
        GPU,
        '--dry-run',
        '--epochs',
        '12',
        '--pairs',
        'wcl',
        '--seeds',
        '0',
        '--and',
        '--epochs',
        '12',
        '--pairs',
        'csml',
        '--methods',
        'mocov2',
        'csml',
        '--no-floors',
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[3:] == [
        'timeout -k 20 300 python3 tools/benchmarks/bench_quality.py --epochs 12 --pairs wcl '
        '--seeds 0 --out-dir docs/results/gpu --work-dir /tmp/csml_quality_gpu',
        'timeout -k 20 300 python3 tools/benchmarks/bench_quality.py --epochs 12 --pairs csml '
        '--methods mocov2 csml --no-floors --out-dir docs/results/gpu '
        '--work-dir /tmp/csml_quality_gpu',
        'python3 tools/benchmarks/bench_quality.py --report-only --out-dir docs/results/gpu '
        '--epochs 12',
    ]
    # an empty group takes the defaults
    proc = _run(
        GPU,
        '--dry-run',
        '--and',
        '--pairs',
        'wcl',
        '--seeds',
        '0',
        '--epochs',
        '12',
        '--no-floors',
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[3].endswith(
        'bench_quality.py --pairs wcl --seeds 0 --epochs 12 --out-dir docs/results/gpu '
        '--work-dir /tmp/csml_quality_gpu'
    )


@pytest.mark.parametrize(
    'second,word',
    [(['--epochs', '20'], '--epochs'), (['--epochs', '12', '--out-dir', '/x'], '--out-dir')],
)
def test_gpu_quality_groups_must_share_budget_and_report(tmp_path, second, word):
    wheels = _fake_wheels(tmp_path)
    proc = _run(
        GPU,
        '--dry-run',
        '--epochs',
        '12',
        '--pairs',
        'wcl',
        '--and',
        *second,
        '--pairs',
        'csml',
        env=dict(CSML_DEVICE_WHEELS=str(wheels)),
    )
    assert proc.returncode != 0
    assert 'group 2' in proc.stderr and word in proc.stderr
    assert proc.stdout == ''


def test_gpu_quality_names_prepare_wheels_when_nothing_was_carried(tmp_path):
    proc = _run(GPU, '--dry-run', env=dict(CSML_DEVICE_WHEELS=str(tmp_path / 'absent')))
    assert proc.returncode != 0
    assert 'prepare_wheels.sh' in proc.stderr and 'carry' in proc.stderr
    assert proc.stdout == ''
    # a folder without the data is refused the same way
    wheels = _fake_wheels(tmp_path, with_fmnist=False)
    proc = _run(GPU, '--dry-run', env=dict(CSML_DEVICE_WHEELS=str(wheels)))
    assert proc.returncode != 0
    assert 'Fashion-MNIST' in proc.stderr and 'prepare_wheels.sh' in proc.stderr


def test_wheel_list_and_image_list_are_consistent():
    wheels, image = _wheel_list(), _image()
    assert {'mmcv', 'mmengine', 'mmpretrain'} <= set(wheels)
    # the stack's versions are the pinned ones
    pins = _pins()
    for name in ('mmcv', 'mmengine', 'mmpretrain'):
        assert wheels[name] == pins[name]
    # carrying a package the image has would put a second version of it on the path
    assert not set(wheels) & image, set(wheels) & image


def _requires(dist_name, version, folder):
    """Requires-Dist lines of one distribution: from its wheel in ``folder`` when there (the
    exact version carried), else from the installed distribution; None if neither."""
    wheel_names = ['mmcv_lite'] if dist_name == 'mmcv' else []
    wheel_names.append(re.sub(r'[-.]', '_', dist_name))
    if version and osp.isdir(folder):
        import zipfile

        for w in wheel_names:
            path = osp.join(folder, f'{w}-{version}-')
            found = [
                osp.join(folder, f)
                for f in os.listdir(folder)
                if osp.join(folder, f).startswith(path) and f.endswith('.whl')
            ]
            if found:
                with zipfile.ZipFile(found[0]) as z:
                    meta = next(n for n in z.namelist() if n.endswith('.dist-info/METADATA'))
                    msg = Parser().parsestr(z.read(meta).decode())
                return msg.get_all('Requires-Dist') or []
    try:
        installed = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        return None
    if version and installed.version != version:
        return None  # another version here: its requirements need not be the carried one's
    return installed.requires or []


def test_wheels_and_image_cover_the_stack_requirements():
    """Every requirement of mmcv, mmengine, mmpretrain and csml_mm that applies on the GPU
    machine (Python 3.12, Linux; extras left out), followed through the carried wheels, is
    either carried (in a version that satisfies it) or on the image."""
    packaging = pytest.importorskip('packaging.requirements')
    for name in ROOTS:
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            pytest.skip(f'{name} is not installed here (run make setup)')
    wheels, image = _wheel_list(), _image()
    folder = osp.join(ROOT, '.device_wheels')
    from packaging.version import Version

    todo = [(name, None) for name in ROOTS]
    seen, uncovered, unsatisfied, unread = set(), [], [], []
    while todo:
        name, parent = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        reqs = _requires(name, wheels.get(_canon(name)), folder)
        if reqs is None:
            unread.append(f'{name}=={wheels.get(_canon(name))} (needed by {parent})')
            continue
        for line in reqs:
            req = packaging.Requirement(line)
            if req.marker is not None and not req.marker.evaluate(GPU_MARKER_ENV):
                continue
            key = _canon(req.name)
            if key in image:
                continue
            if key not in wheels:
                uncovered.append(f'{req} (needed by {name})')
                continue
            if req.specifier and not req.specifier.contains(Version(wheels[key]), prereleases=True):
                unsatisfied.append(f'{req} (needed by {name}), carried {wheels[key]}')
            todo.append((key, name))
    assert not uncovered, (
        'not carried (tools/device/wheels.txt) and not on the GPU image '
        f'(tools/device/gpu_image_packages.txt): {uncovered}'
    )
    assert not unsatisfied, unsatisfied
    # nothing carried in vain
    assert set(wheels) <= {_canon(n) for n in seen}, set(wheels) - {_canon(n) for n in seen}
    if unread:
        # The stack itself is pinned, so its own requirements are always checked; a carried
        # dependency is followed from its wheel in .device_wheels/ or from the same version
        # installed here. Without either (a clean clone whose .venv resolved another version)
        # its own requirements cannot be read offline.
        if osp.isdir(folder):
            pytest.fail(
                f'no metadata to follow the requirements of {unread}: run '
                'bash tools/device/prepare_wheels.sh'
            )
        warnings.warn(
            'requirements not followed offline (other versions installed here, no '
            f'.device_wheels/): {unread}',
            stacklevel=2,
        )


def test_gpu_quality_packs_the_unfinished_runs_and_copies_them_back(tmp_path):
    """The runs the time limit cut off (a checkpoint, no result) come back in parts of at
    most CSML_DEVICE_PART_MIB MiB, with the last checkpoint but not the older ones; finished
    runs stay behind. Unpacked and carried as .device_work, the next call copies them into
    its work-dir, where bench_quality.py resumes them."""
    import json
    import sys
    import tarfile

    wheels = _fake_wheels(tmp_path)
    work, report, out = tmp_path / 'work', tmp_path / 'report', tmp_path / 'OUT'
    out.mkdir()
    cut = work / 'e3' / 'simclr' / 'seed0'
    (cut / '20261204_170000').mkdir(parents=True)
    (cut / 'epoch_1.pth').write_bytes(os.urandom(1000))
    (cut / 'epoch_2.pth').write_bytes(os.urandom(3 * 1024 * 1024))
    (cut / 'last_checkpoint').write_text(str(cut / 'epoch_2.pth'))
    (cut / 'segments.json').write_text('{}')
    (cut / '20261204_170000' / '20261204_170000.log').write_text('log')
    done = work / 'e3' / 'wcl' / 'seed0'
    done.mkdir(parents=True)
    (done / 'epoch_3.pth').write_bytes(b'x')
    (done / 'last_checkpoint').write_text(str(done / 'epoch_3.pth'))
    (report / 'runs_e3' / 'wcl').mkdir(parents=True)
    (report / 'runs_e3' / 'wcl' / 'seed0.json').write_text(
        json.dumps(
            dict(
                method='wcl',
                label='WCL',
                config='c.py',
                options=[],
                seed=0,
                knn_top1=80.0,
                linear_top1=80.0,
                train_seconds=1.0,
                curve=[],
            )
        )
    )
    env = dict(
        CSML_DEVICE_WHEELS=str(wheels),
        CSML_DEVICE_SKIP_INSTALL='1',
        PYTHON=sys.executable,
        OUT=str(out),
        CSML_DEVICE_PART_MIB='1',
        CSML_DEVICE_WORK_IN=str(tmp_path / 'absent'),
        CSML_GPU_TIME_LIMIT_S='0',
    )
    args = ('--report-only', '--epochs', '3', '--out-dir', str(report))
    proc = _run(GPU, *args, '--work-dir', str(work), env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    parts = sorted(out.glob('gpu_work.tar.part-*'))
    assert len(parts) == 4 and all(p.stat().st_size <= 1024 * 1024 for p in parts)
    joined = tmp_path / 'gpu_work.tar'
    joined.write_bytes(b''.join(p.read_bytes() for p in parts))
    with tarfile.open(joined) as tar:
        names = sorted(tar.getnames())
        assert names == [
            'e3/simclr/seed0/20261204_170000/20261204_170000.log',
            'e3/simclr/seed0/epoch_2.pth',
            'e3/simclr/seed0/last_checkpoint',
            'e3/simclr/seed0/segments.json',
        ]
        carried = tmp_path / 'device_work'
        tar.extractall(carried)
    # the next call, on a fresh machine: the carried runs land in its work-dir
    fresh = tmp_path / 'fresh_work'
    # a run that went further on a still-warm machine keeps its own pointer
    ahead = fresh / 'e3' / 'wcl' / 'seed0'
    ahead.mkdir(parents=True)
    (ahead / 'last_checkpoint').write_text('newer')
    (carried / 'e3' / 'wcl' / 'seed0').mkdir(parents=True)
    (carried / 'e3' / 'wcl' / 'seed0' / 'last_checkpoint').write_text('older')
    out2 = tmp_path / 'OUT2'
    out2.mkdir()
    env.update(CSML_DEVICE_WORK_IN=str(carried), OUT=str(out2))
    proc = _run(GPU, *args, '--work-dir', str(fresh), env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    copied = fresh / 'e3' / 'simclr' / 'seed0' / 'epoch_2.pth'
    assert copied.read_bytes() == (cut / 'epoch_2.pth').read_bytes()
    assert (ahead / 'last_checkpoint').read_text() == 'newer'
