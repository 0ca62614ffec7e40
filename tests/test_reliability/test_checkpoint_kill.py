"""A kill while a checkpoint is written leaves the previous one usable, ``--resume``
without a path takes the newest complete checkpoint, and a run resumed from an iteration
checkpoint inside an epoch continues that epoch exactly.

The kills are real ``SIGKILL``s of ``tools/train.py`` processes (``crash_hooks.py``): one after
a mid-epoch iteration checkpoint, one half-way through writing a checkpoint's bytes. The
selection rules of ``csml_mm.engine.resume`` are also checked in-process on hand-made files.
"""

import os
import os.path as osp
import shutil

import pytest
import torch
from reliability_helpers import (
    EPOCHS,
    ITERS_PER_EPOCH,
    child_env,
    load,
    nested_differences,
    state_differences,
    train,
    write_config,
)

from csml_mm.engine.resume import (
    NoCompleteCheckpointError,
    checkpoint_problem,
    find_resume_checkpoint,
)


@pytest.mark.slow
def test_sigkill_after_a_mid_epoch_iteration_checkpoint(repo_root, tmp_path, reference):
    """Iteration checkpoints (by_epoch=False) in an epoch-based run: killed one batch after
    iter_10.pth (batch 2 of epoch 3, a neighbour-mining epoch), --resume continues epoch 3 at
    batch 3 and ends equal to the uninterrupted run."""
    cfg = write_config(
        repo_root,
        'csml',
        tmp_path / 'cfg.py',
        **{'default_hooks.checkpoint.by_epoch': False, 'default_hooks.checkpoint.interval': 2},
    )
    work = tmp_path / 'work'
    out = train(
        repo_root,
        cfg,
        work,
        expect_kill=True,
        env=child_env(repo_root, CSML_TEST_KILL_AFTER_ITER='11'),
    )
    assert 'SIGKILL after iteration 11 (epoch 3, batch 3)' in out
    assert (work / 'iter_10.pth').is_file() and not (work / 'iter_12.pth').exists()
    assert load(work / 'iter_10.pth')['epoch_position'] == dict(batches_done=2, batches_per_epoch=4)

    out = train(repo_root, cfg, work, '--resume')
    assert 'resumed epoch: 2, iter: 10' in out, out[-3000:]
    assert 'continuing epoch 3 after its first 2 batches' in out
    assert 'NeighbourMiningHook: mined' not in out  # the checkpoint's table serves epoch 3
    assert 'Epoch(train) [3][2/2]' in out and 'Epoch(train) [3][3/' not in out
    resumed = load(work / 'iter_12.pth')
    ref = reference('csml')
    straight = load(ref / f'epoch_{EPOCHS}.pth')
    assert resumed['meta']['iter'] == straight['meta']['iter'] == 12
    # iter_12.pth is written after the last batch, epoch_3.pth after the end-of-epoch
    # scheduler step: compare the schedule (and the lr it set) with the state after epoch 2.
    later = ('meta.epoch', 'param_schedulers', 'optimizer.param_groups')
    diffs = [d for d in state_differences(resumed, straight) if not d.startswith(later)]
    before_step = load(ref / 'epoch_2.pth')
    diffs += nested_differences(
        resumed['param_schedulers'], before_step['param_schedulers'], 'param_schedulers'
    )
    diffs += nested_differences(
        resumed['optimizer']['param_groups'],
        before_step['optimizer']['param_groups'],
        'optimizer.param_groups',
    )
    assert not diffs, f'after a mid-epoch resume these differ: {diffs[:20]}'


@pytest.mark.slow
def test_sigkill_while_saving_keeps_the_previous_checkpoint(repo_root, tmp_path, reference):
    """Killed half-way through writing epoch_2.pth (max_keep_ckpts=1, so mmengine's hook
    would already have deleted epoch_1.pth): epoch_1.pth still loads, last_checkpoint names
    it, and --resume continues from it to the uninterrupted result."""
    cfg = write_config(
        repo_root, 'mocov2', tmp_path / 'cfg.py', **{'default_hooks.checkpoint.max_keep_ckpts': 1}
    )
    work = tmp_path / 'work'
    out = train(
        repo_root,
        cfg,
        work,
        expect_kill=True,
        env=child_env(repo_root, CSML_TEST_KILL_DURING_SAVE='epoch_2.pth'),
    )
    assert 'SIGKILL after writing' in out and 'Saving checkpoint at 2 epochs' in out
    partial = list(work.glob('.epoch_2.pth.*.tmp'))
    assert len(partial) == 1 and partial[0].stat().st_size > 0  # the write really began
    assert 'truncated or damaged' in checkpoint_problem(str(partial[0]))
    with pytest.raises(RuntimeError, match='zip archive'):
        torch.load(str(partial[0]), map_location='cpu', weights_only=True)  # half a file
    assert not (work / 'epoch_2.pth').exists()
    ckpt = load(work / 'epoch_1.pth')
    assert ckpt['meta']['epoch'] == 1 and ckpt['meta']['iter'] == ITERS_PER_EPOCH
    assert (work / 'last_checkpoint').read_text().strip() == str(work / 'epoch_1.pth')

    out = train(repo_root, cfg, work, '--resume')
    assert f'{partial[0].name} in {work} are left by interrupted checkpoint saves' in out
    assert f'resumed epoch: 1, iter: {ITERS_PER_EPOCH}' in out, out[-3000:]
    final = f'epoch_{EPOCHS}.pth'
    assert sorted(p.name for p in work.glob('*.pth')) == [final]  # max_keep_ckpts=1
    diffs = state_differences(load(work / final), load(reference('mocov2') / final))
    assert not diffs, diffs[:20]


@pytest.mark.slow
def test_resume_skips_a_torn_last_checkpoint(repo_root, tmp_path, reference):
    """last_checkpoint names a file cut in half (a machine crash before the bytes reached
    the disk, an interrupted copy): --resume warns, takes the newest complete checkpoint
    (epoch_2.pth) and reproduces the uninterrupted epoch 3."""
    ref = reference('mocov2')
    work = tmp_path / 'work'
    shutil.copytree(ref, work)
    final = work / f'epoch_{EPOCHS}.pth'
    final.write_bytes(final.read_bytes()[: final.stat().st_size // 2])
    (work / 'last_checkpoint').write_text(str(final))
    cfg = write_config(repo_root, 'mocov2', tmp_path / 'cfg.py')

    out = train(repo_root, cfg, work, '--resume')
    assert f'names {final}, but it is truncated or damaged' in out, out[-3000:]
    assert f'resumed epoch: 2, iter: {2 * ITERS_PER_EPOCH}' in out, out[-3000:]
    assert checkpoint_problem(str(final)) is None  # rewritten in full by the resumed run
    assert (work / 'last_checkpoint').read_text().strip() == str(final)
    diffs = state_differences(load(final), load(ref / final.name))
    assert not diffs, diffs[:20]


# ------------------------------------------------------- checkpoint selection, in-process
def _save(path, step: int) -> str:
    torch.save({'meta': {'iter': step}, 'w': torch.full((512,), 7, dtype=torch.uint8)}, path)
    os.utime(path, (1_000_000 + step, 1_000_000 + step))  # modification time follows the step
    return str(path)


def test_checkpoint_problem_names_what_is_wrong(tmp_path):
    good = _save(tmp_path / 'epoch_1.pth', 1)
    assert checkpoint_problem(good) is None
    data = (tmp_path / 'epoch_1.pth').read_bytes()
    (tmp_path / 'half.pth').write_bytes(data[: len(data) // 2])
    assert 'truncated or damaged' in checkpoint_problem(str(tmp_path / 'half.pth'))
    at = data.index(b'\x07' * 512)
    (tmp_path / 'flipped.pth').write_bytes(data[:at] + b'\x08' + data[at + 1 :])
    assert 'fails the CRC-32 check' in checkpoint_problem(str(tmp_path / 'flipped.pth'))
    (tmp_path / 'empty.pth').write_bytes(b'')
    assert checkpoint_problem(str(tmp_path / 'empty.pth')) == 'the file is empty'
    (tmp_path / 'page.pth').write_text('<html>404</html>')
    assert 'not a zip-format torch checkpoint' in checkpoint_problem(str(tmp_path / 'page.pth'))
    assert checkpoint_problem(str(tmp_path / 'gone.pth')) == 'the file does not exist'


def test_last_checkpoint_is_kept_when_complete(tmp_path):
    _save(tmp_path / 'epoch_1.pth', 1)
    _save(tmp_path / 'epoch_2.pth', 2)
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_1.pth'))
    assert find_resume_checkpoint(str(tmp_path)) == str(tmp_path / 'epoch_1.pth')


def test_missing_target_falls_back_to_the_newest_complete(tmp_path):
    warnings = []
    _save(tmp_path / 'epoch_1.pth', 1)
    _save(tmp_path / 'epoch_2.pth', 2)
    data = (tmp_path / 'epoch_2.pth').read_bytes()
    _save(tmp_path / 'epoch_3.pth', 3)
    (tmp_path / 'epoch_3.pth').write_bytes(data[:100])  # torn
    os.utime(tmp_path / 'epoch_3.pth', (1_000_003, 1_000_003))
    # a complete temp file of an interrupted atomic write is never a candidate
    shutil.copy(tmp_path / 'epoch_2.pth', tmp_path / '.epoch_4.pth.x1y2.tmp')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_4.pth'))
    got = find_resume_checkpoint(str(tmp_path), warn=warnings.append)
    assert got == str(tmp_path / 'epoch_2.pth')
    assert any('.epoch_4.pth.x1y2.tmp in' in w and 'can be deleted' in w for w in warnings)
    assert any('epoch_4.pth, but the file does not exist' in w for w in warnings)
    assert any('skipping ' + str(tmp_path / 'epoch_3.pth') in w for w in warnings)


def test_no_last_checkpoint_still_resumes(tmp_path):
    """mmengine alone would start from scratch here, next to the checkpoints."""
    _save(tmp_path / 'iter_50.pth', 50)
    _save(tmp_path / 'iter_100.pth', 100)
    assert find_resume_checkpoint(str(tmp_path), warn=lambda m: None) == str(
        tmp_path / 'iter_100.pth'
    )


def test_nothing_to_resume_and_nothing_usable(tmp_path):
    assert find_resume_checkpoint(str(tmp_path)) is None  # fresh work dir: start from scratch
    (tmp_path / 'epoch_1.pth').write_bytes(b'PK\x03\x04 cut')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_1.pth'))
    with pytest.raises(
        NoCompleteCheckpointError,
        match=r'(?s)no complete checkpoint.*'
        r'epoch_1\.pth: it is truncated or damaged.*--resume PATH',
    ):
        find_resume_checkpoint(str(tmp_path), warn=lambda m: None)
    assert osp.isfile(tmp_path / 'epoch_1.pth')  # nothing is deleted
