"""FirstStepsLogHook: the first iteration at once, then a line at least every `every` seconds,
until the LoggerHook's first line."""

from types import SimpleNamespace

import torch
from mmengine.hooks import LoggerHook
from mmengine.logging import MessageHub

import csml_mm.engine.hooks.first_steps_log_hook as mod
from csml_mm.engine.hooks import FirstStepsLogHook


def test_lines_until_the_logger_takes_over(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(mod.time, 'time', lambda: clock[0])
    lines = []
    hub = MessageHub.get_instance('first_steps_test')
    runner = SimpleNamespace(
        iter=0,
        max_iters=1000,
        hooks=[LoggerHook(interval=5)],
        message_hub=hub,
        logger=SimpleNamespace(info=lines.append),
    )
    hook = FirstStepsLogHook(every=10)
    hook.before_train(runner)
    seconds = [4, 3, 4, 12, 30, 30]  # per iteration
    for i, dt in enumerate(seconds):
        runner.iter = i
        hook.before_train_iter(runner, i)
        clock[0] += dt
        # the loss shown is this step's output (the message hub may be filled only at the
        # logger's interval, by DeferredRuntimeInfoHook)
        hook.after_train_iter(runner, i, outputs=dict(loss=torch.tensor(2.0 - 0.1 * i)))
    # iteration 1 at once (t=104); 2 and 3 come 3 and 7 s after that line; 4 after 19 s
    iters = [int(ln.split('iteration ')[1].split('/')[0]) for ln in lines]
    assert iters == [1, 4], lines
    assert '4.00 s an iteration so far' in lines[0] and 'loss 2.0000' in lines[0]
    # 4 iterations in 23 s: 5.75 s each, 996 left -> 95 min
    assert '5.75 s an iteration so far, 95 min left' in lines[1]
    # iterations 5 and 6: the logger (interval 5) has written its first line
