"""Build the optional compiled modules: the pure-Python sources compiled with Cython.

Every compiled module is a pure-Python module of ``src/kvstore`` compiled as it is, in Cython's
pure-Python mode, with the C types declared in the ``.pxd`` file beside it. It is built under
another name, in ``kvstore._speedups``, so that the pure module stays importable beside it and
``kvstore.build`` can choose between the two (docs/builds.md).

The compiled modules are optional. Without Cython, without a C compiler, or with
``KVSTORE_NO_EXTENSIONS=1`` in the environment, the package installs pure, after one warning line.
"""

from __future__ import annotations

import ast
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
#: Where the sources are copied, under their compiled names, and where the C files are written.
STAGING = Path("build") / "cython"


def _twins() -> dict[str, str]:
    """``kvstore.build.TWINS`` (each pure module and its compiled name), read from the source:
    the one list of what is compiled."""
    tree = ast.parse((ROOT / "src" / "kvstore" / "build.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "TWINS" for target in node.targets
        ):
            twins: dict[str, str] = ast.literal_eval(node.value)
            return twins
    raise RuntimeError("src/kvstore/build.py has no TWINS")


#: The compiled name of each pure module, and its source under src/ (without its suffix).
COMPILED = {twin: "src/" + pure.replace(".", "/") for pure, twin in _twins().items()}
DIRECTIVES = {
    "language_level": 3,
    # The .pxd files alone give C types: an annotation (``data: bytes``) stays a hint, as in
    # Python, and never becomes a type check that the pure module does not make.
    "annotation_typing": False,
    "binding": False,
    "embedsignature": False,
}


def _warn(reason: str) -> None:
    print(f"kvstore: installing the pure build only ({reason})", file=sys.stderr)


def _staged() -> list[Extension]:
    """Copy each source and its .pxd to its compiled name; one Extension for each."""
    extensions = []
    for name, source in COMPILED.items():
        target = STAGING.joinpath(*name.split("."))
        target.parent.mkdir(parents=True, exist_ok=True)
        for suffix in (".py", ".pxd"):
            origin = ROOT / (source + suffix)
            staged = target.with_suffix(suffix)
            # Copy only what changed, so that an unchanged source is not translated again.
            if not staged.exists() or staged.read_bytes() != origin.read_bytes():
                shutil.copyfile(origin, staged)
        extensions.append(Extension(name, [str(target.with_suffix(".py"))]))
    return extensions


def extensions() -> list[Any]:
    if os.environ.get("KVSTORE_NO_EXTENSIONS", "") not in ("", "0"):
        _warn("KVSTORE_NO_EXTENSIONS is set")
        return []
    try:
        from Cython.Build import cythonize  # noqa: PLC0415 - optional
    except ImportError:
        _warn("Cython is not installed")
        return []
    modules: list[Any] = cythonize(
        _staged(),
        include_path=[str(STAGING)],
        compiler_directives=DIRECTIVES,
        quiet=True,
    )
    return modules


class OptionalBuildExt(build_ext):
    """build_ext that installs the pure build when the compiled one cannot be built."""

    def run(self) -> None:
        if self.inplace or getattr(self, "editable_mode", False):
            # The compiled package has no Python file of its own: make its folder in src/.
            for ext in self.extensions:
                Path(self.get_ext_fullpath(ext.name)).parent.mkdir(parents=True, exist_ok=True)
        try:
            super().run()
        except Exception as exc:  # no compiler at all: distutils raises before compiling
            _warn(f"the C extension could not be built: {_first_line(exc)}")

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            _warn(f"{ext.name} could not be compiled: {_first_line(exc)}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
