"""`make demo`: pretrain on Fashion-MNIST and compare kNN top-1 with random init.

The data is Fashion-MNIST from Debian's dataset-fashion-mnist package (`make setup` installs
it where it can); the kNN bank is the train split and the queries are the test split, which
pretraining never sees. Without the package the demo says so and runs `--fallback-config` on
the embedded digits instead.

Steps (each a normal csml_mm tool, so the demo is also their smoke test):
1. kNN top-1 of the randomly initialised encoder (tools/analysis_tools/knn_eval.py --random-init);
2. pretraining with tools/train.py (progress and the online kNN monitor are printed as it runs);
3. kNN top-1 of the final checkpoint;
4. a summary with both numbers and where the checkpoint and logs are.
"""

import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))


def run(cmd, env):
    print('\n$ ' + ' '.join(cmd), flush=True)
    proc = subprocess.run(cmd, cwd=ROOT, env=env)
    if proc.returncode != 0:
        sys.exit(f'demo: step failed with exit code {proc.returncode}: {" ".join(cmd)}')


def knn(config, checkpoint, out, env, extra=()):
    cmd = [sys.executable, 'tools/analysis_tools/knn_eval.py', config]
    cmd += [checkpoint] if checkpoint else ['--random-init']
    run(cmd + ['--out', out, *extra], env)
    with open(out) as f:
        return json.load(f)['results']


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', required=True)
    parser.add_argument(
        '--fallback-config', default=None, help='config to run when Fashion-MNIST is not installed'
    )
    parser.add_argument('--work-dir', required=True)
    parser.add_argument('--k', type=int, default=20, help='k of the reported kNN top-1')
    args = parser.parse_args()

    env = dict(
        os.environ,
        PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''),
        PYTHONUNBUFFERED='1',
    )
    work_dir = osp.abspath(args.work_dir)
    os.makedirs(work_dir, exist_ok=True)
    t0 = time.time()
    sys.path.insert(0, ROOT)
    from csml_mm.datasets.fashion_mnist import fashion_mnist_available, missing_message

    data_name = 'Fashion-MNIST test split (never seen in pretraining)'
    if 'fmnist' in osp.basename(args.config) and not fashion_mnist_available():
        print('== ' + missing_message('(the Fashion-MNIST IDX files)'), flush=True)
        if not args.fallback_config:
            sys.exit('demo: no --fallback-config given')
        print(f'== falling back to the embedded digits: {args.fallback_config}', flush=True)
        args.config = args.fallback_config
        data_name = 'embedded val split'
    print(f'== csml_mm demo: {args.config}\n== work dir: {work_dir}', flush=True)

    print('\n== 1/3 kNN of the randomly initialised encoder', flush=True)
    rand = knn(args.config, None, osp.join(work_dir, 'knn_random_init.json'), env)

    print('\n== 2/3 pretraining (progress and the kNN monitor are logged as it runs)', flush=True)
    run([sys.executable, 'tools/train.py', args.config, '--work-dir', work_dir], env)
    from csml_mm.utils.checkpoint_discovery import newest_complete_checkpoint

    ckpt = newest_complete_checkpoint(work_dir)  # the one tools/train.py --resume would take
    if ckpt is None:
        sys.exit(f'demo: training wrote no complete checkpoint into {work_dir}')

    print('\n== 3/3 kNN of the trained encoder', flush=True)
    trained = knn(args.config, ckpt, osp.join(work_dir, 'knn_trained.json'), env)

    key1, key5 = f'top1_k{args.k}', f'top5_k{args.k}'
    logs = sorted(d for d in os.listdir(work_dir) if osp.isdir(osp.join(work_dir, d)))
    print('\n' + '=' * 72)
    print(f'kNN on the {data_name} (k={args.k}, weighted vote, T=0.07):')
    print(f'  random-init encoder : top-1 {rand[key1]:6.2f}%   top-5 {rand[key5]:6.2f}%')
    print(f'  pretrained encoder  : top-1 {trained[key1]:6.2f}%   top-5 {trained[key5]:6.2f}%')
    print(f'  gain                : {trained[key1] - rand[key1]:+6.2f} points top-1')
    print(f'checkpoint : {ckpt}')
    if logs:
        print(f'logs       : {osp.join(work_dir, logs[-1])} (scalars in vis_data/scalars.json)')
    print(f'kNN json   : {work_dir}/knn_random_init.json, {work_dir}/knn_trained.json')
    print(f'total time : {time.time() - t0:.0f} s')
    print('=' * 72)


if __name__ == '__main__':
    main()
