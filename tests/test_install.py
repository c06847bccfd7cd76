"""The README's first command installs ms_cls: `pip install -r requirements.txt` in a clone makes
the Python API importable from any folder, also from the parent of a clone named ms_cls (which
Python would otherwise take for an empty namespace package)."""
import os
import shutil
import subprocess
import sys
import venv

import pytest

from conftest import ROOT

#: The files `pip install -e .` reads, copied so that the install writes nothing in this clone.
PROJECT_FILES = ('pyproject.toml', 'README.md', 'requirements.txt')


def test_requirements_install_ms_cls_importable_from_any_folder(tmp_path):
    parent = tmp_path / 'parent'
    clone = parent / 'ms_cls'            # a clone named like the package
    shutil.copytree(os.path.join(ROOT, 'ms_cls'), clone / 'ms_cls',
                    ignore=shutil.ignore_patterns('__pycache__'))
    for name in PROJECT_FILES:
        shutil.copy(os.path.join(ROOT, name), clone / name)
    env_dir = tmp_path / 'venv'
    # the system's packages (MindSpore, ...) are seen, so pip installs only ms_cls itself:
    # no index, no build isolation (setuptools is there)
    venv.create(env_dir, system_site_packages=True, with_pip=False)
    python = str(env_dir / 'bin' / 'python')
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'PIP_USER')}
    install = subprocess.run(
        [python, '-m', 'pip', 'install', '--no-index', '--no-build-isolation', '-q',
         '-r', 'requirements.txt'], cwd=clone, env=env, capture_output=True, text=True,
        timeout=180)
    if install.returncode and 'No module named pip' in install.stderr:
        pytest.skip('no pip for the system Python')
    assert install.returncode == 0, install.stderr[-2000:]
    # the README's API example's import, in the shadowing folder (setuptools' default import
    # hook found ms_cls.apis there, but ms_cls itself was the clone as a namespace package, its
    # __init__ never run); a plain import elsewhere
    package = str(clone / 'ms_cls' / '__init__.py')
    for cwd, probe in ((parent, "import ms_cls.apis as a, ms_cls; "
                                "print(ms_cls.__file__, ms_cls.__version__, callable(a.init_model))"),
                       (tmp_path, "import ms_cls; print(ms_cls.__file__, ms_cls.__version__, True)")):
        found = subprocess.run([python, '-c', probe], cwd=cwd, env=env, capture_output=True,
                               text=True, timeout=120)
        assert found.returncode == 0, found.stderr[-2000:]
        assert found.stdout.split() == [package, '0.1.0', 'True'], cwd
    listed = subprocess.run([python, '-m', 'pip', 'show', 'ms_cls'], env=env,
                            capture_output=True, text=True, timeout=60)
    assert 'Editable project location: ' + str(clone) in listed.stdout
    assert sys.prefix != str(env_dir)   # the suite's own Python was left alone
