import os.path as osp

from setuptools import find_packages, setup


def get_version():
    ns = {}
    with open(osp.join(osp.dirname(__file__), 'csml_mm', 'version.py')) as f:
        exec(f.read(), ns)
    return ns['__version__']


setup(
    name='csml_mm',
    version=get_version(),
    description='Cross-sample, multi-positive and asymmetric contrastive learning '
    '(CsMl, HSA, WCL, APS) for the OpenMMLab stack',
    long_description=open('README.md').read() if osp.exists('README.md') else '',
    long_description_content_type='text/markdown',
    packages=find_packages(include=['csml_mm', 'csml_mm.*']),
    python_requires='>=3.9',
    # Versions are pinned in requirements/pins.txt; these are the loose runtime needs.
    install_requires=['mmengine>=0.10.6', 'mmpretrain>=1.2.0', 'scikit-learn', 'scikit-image', 'scipy'],
    extras_require={'mmdet': ['mmdet>=3.3.0'], 'faiss': ['faiss-cpu']},
    license='Apache-2.0',
    zip_safe=False,
)
