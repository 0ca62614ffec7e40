import os
import os.path as osp
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = osp.dirname(osp.abspath(__file__))

#: Repository folders shipped inside the package, under ``csml_mm/.mim/`` (where ``mim`` and
#: ``csml_mm.utils.package_path`` look for them in an installed package).
SHIPPED_DIRS = ('configs', 'tools')
MIM_DIR = '.mim'


def get_version() -> str:
    ns = {}
    with open(osp.join(HERE, 'csml_mm', 'version.py')) as f:
        exec(f.read(), ns)
    return ns['__version__']


class BuildPyWithConfigs(build_py):
    """``build_py`` that also copies ``configs/`` and ``tools/`` into ``csml_mm/.mim/``.

    The copies go to the build folder only, never into the source tree. An editable install
    skips them: there the package finds both folders in the checkout next to it.
    """

    def run(self) -> None:
        super().run()
        if getattr(self, 'editable_mode', False):
            return
        target = osp.join(self.build_lib, 'csml_mm', MIM_DIR)
        for name in SHIPPED_DIRS:
            src = osp.join(HERE, name)
            if not osp.isdir(src):
                raise FileNotFoundError(
                    f'{src} is missing: csml_mm ships {", ".join(SHIPPED_DIRS)} inside the package '
                    '(a source archive must include them; see MANIFEST.in).'
                )
            dst = osp.join(target, name)
            if osp.isdir(dst):
                shutil.rmtree(dst)  # a stale copy from an earlier build
            # symlinks=False: the wheel must hold real files, whatever the checkout has.
            shutil.copytree(
                src, dst, symlinks=False, ignore=shutil.ignore_patterns('__pycache__', '*.py[co]')
            )
            self.announce(f'copied {name}/ to {osp.relpath(dst, os.getcwd())}', level=2)


setup(
    name='csml_mm',
    version=get_version(),
    description='Cross-sample, multi-positive and asymmetric contrastive learning (CsMl, HSA, WCL, '
    'APS) for the OpenMMLab stack',
    long_description=open(osp.join(HERE, 'README.md')).read()
    if osp.exists(osp.join(HERE, 'README.md'))
    else '',
    long_description_content_type='text/markdown',
    packages=find_packages(include=['csml_mm', 'csml_mm.*']),
    python_requires='>=3.9',
    # Versions are pinned in requirements/pins.txt; these are the loose runtime needs.
    install_requires=[
        'mmengine>=0.10.6',
        'mmpretrain>=1.2.0',
        'scikit-learn',
        'scikit-image',
        'scipy',
    ],
    # det: detection transfer; it also needs mmcv 2.1 WITH its compiled ops (README,
    # "Installation"), which no extra can pull (no wheel for every torch)
    extras_require={'det': ['mmdet>=3.3.0'], 'mmdet': ['mmdet>=3.3.0'], 'faiss': ['faiss-cpu']},
    cmdclass={'build_py': BuildPyWithConfigs},
    license='Apache-2.0',
    zip_safe=False,
)
