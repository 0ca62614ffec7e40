"""A run killed with SIGKILL in the middle of an epoch and restarted with
``--resume`` ends exactly (bitwise, CPU) where the uninterrupted run ends, for every algorithm.

Every kill is a real ``SIGKILL`` of a ``tools/train.py`` process, sent by the process to
itself from a test-only hook (``crash_hooks.py``, loaded through ``custom_imports``), so it
lands at a fixed point of the run. The uninterrupted reference runs come from the
session fixture ``reference`` (conftest.py).
"""

import shutil
from pathlib import Path
from typing import Dict

import pytest
from reliability_helpers import (
    ALGORITHMS,
    EPOCHS,
    ITERS_PER_EPOCH,
    KILL_AFTER_ITER,
    child_env,
    load,
    state_differences,
    train,
    write_config,
)

pytestmark = pytest.mark.slow  # every test here trains or spawns processes

# State that must exist in the final checkpoint of each algorithm (so that a renamed or
# dropped buffer fails here rather than passing the comparison vacuously).
STATEFUL_KEYS: Dict[str, tuple] = {
    'mocov2': ('queue', 'queue_ptr', 'encoder_k.steps'),
    'csml': ('queue', 'queue_ptr', 'encoder_k.steps'),
    'csml_multilevel': ('queue', 'queue_ptr', 'encoder_k.steps'),
    'hsa': ('queue', 'queue_ptr', 'encoder_k.steps'),
    'wcl': (),
    'wcl_mcrop': (),
    'aps': (),
    'aps_ema': ('target.steps',),
}
MINES_NEIGHBOURS = ('csml', 'csml_multilevel', 'hsa')


def _kill_mid_epoch(repo_root: str, cfg: str, work: Path) -> None:
    """Start a fresh run and SIGKILL it in the middle of epoch 2."""
    out = train(
        repo_root,
        cfg,
        work,
        expect_kill=True,
        env=child_env(repo_root, CSML_TEST_KILL_AFTER_ITER=str(KILL_AFTER_ITER)),
    )
    assert f'SIGKILL after iteration {KILL_AFTER_ITER} (epoch 2, batch 2)' in out, out[-2000:]
    assert 'Epoch(train) [2][2/4]' in out  # it trained into epoch 2 before dying
    assert (work / 'epoch_1.pth').is_file() and not (work / 'epoch_2.pth').exists()
    assert (work / 'last_checkpoint').read_text().strip() == str(work / 'epoch_1.pth')


@pytest.mark.parametrize('algorithm', list(ALGORITHMS))
def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(
    algorithm, repo_root, tmp_path, reference
):
    cfg = write_config(repo_root, algorithm, tmp_path / 'cfg.py')
    work = tmp_path / 'work'
    _kill_mid_epoch(repo_root, cfg, work)

    out = train(repo_root, cfg, work, '--resume')
    assert f'resumed epoch: 1, iter: {ITERS_PER_EPOCH}' in out, out[-3000:]
    assert 'Epoch(train) [1][' not in out  # epoch 1 came from the checkpoint
    assert 'Epoch(train) [2][1/4]' in out  # epoch 2 restarts from its first batch
    if algorithm.startswith('wcl'):  # the augmentation stage follows the resumed epoch
        assert 'epoch 1 uses training pipeline stage 1' in out
        assert 'stage 0' not in out
    if algorithm in MINES_NEIGHBOURS:  # the table came from the checkpoint: no mining at
        # the resume (epoch index 1 is no mining epoch), the next one at epoch index 2
        assert out.count('NeighbourMiningHook: mined') == 1, out[-3000:]

    ref = reference(algorithm)
    final = f'epoch_{EPOCHS}.pth'
    resumed, straight = load(work / final), load(ref / final)
    assert straight['meta']['iter'] == EPOCHS * ITERS_PER_EPOCH
    for key in STATEFUL_KEYS[algorithm]:
        assert key in straight['state_dict'], f'{algorithm}: no {key} in the checkpoint'
    if algorithm in MINES_NEIGHBOURS:
        assert 'neighbour_table' in straight
    if algorithm == 'aps_ema':  # one EMA step per sampling round (4 per batch)
        assert int(straight['state_dict']['target.steps']) == 4 * EPOCHS * ITERS_PER_EPOCH
    diffs = state_differences(resumed, straight)
    assert not diffs, (
        f'{algorithm}: after kill + resume these differ from the uninterrupted run: {diffs[:20]}'
    )


def test_the_comparison_sees_state_that_is_not_restored(repo_root, tmp_path, reference):
    """Control: resuming the same checkpoint without restoring the random generators must
    end elsewhere, so the equality above is not vacuous."""
    ref = reference('csml')
    work = tmp_path / 'work'
    work.mkdir()
    shutil.copy(ref / 'epoch_1.pth', work / 'epoch_1.pth')
    cfg = write_config(repo_root, 'csml', tmp_path / 'cfg.py', without=['rng_state'])
    out = train(repo_root, cfg, work, '--resume', str(work / 'epoch_1.pth'))
    assert f'resumed epoch: 1, iter: {ITERS_PER_EPOCH}' in out
    diffs = state_differences(load(work / f'epoch_{EPOCHS}.pth'), load(ref / f'epoch_{EPOCHS}.pth'))
    assert any(d.startswith('state_dict.backbone') for d in diffs), diffs[:10]
