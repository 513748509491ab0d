"""Builds kasir-forward from ../kasir/forward.py, its one source, installed as ``kasir_forward``.

From a checkout (``pip install ./forwarder``, or pip's ``#subdirectory=forwarder`` from git) the
module is read from ../kasir/forward.py; an sdist carries its own copy, made when it is built.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent
MODULE = "kasir_forward.py"


def source() -> Path:
    for candidate in (HERE.parent / "kasir" / "forward.py", HERE / MODULE):
        if candidate.is_file():
            return candidate
    raise SystemExit(f"kasir-forward: neither ../kasir/forward.py nor {MODULE} is beside {HERE}")


class BuildPy(build_py):
    """The module ``kasir_forward`` is built from wherever ``source()`` finds it."""

    def find_modules(self) -> list[tuple[str, str, str]]:
        return [("", "kasir_forward", str(source()))]

    def get_source_files(self) -> list[str]:
        return []  # the sdist adds its own copy (Sdist below), not a path outside this folder


class Sdist(sdist):
    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        shutil.copyfile(source(), Path(base_dir) / MODULE)


setup(cmdclass={"build_py": BuildPy, "sdist": Sdist})
