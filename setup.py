"""Builds the C extensions of calarb's hot path; all metadata lives in pyproject.toml.

Each module of `calarb.compiled.COMPILED_MODULES` is compiled by Cython from its own `.py`
source, typed by the `.pxd` beside it. Without Cython or a working C compiler the package
installs pure (the same `.py` files, interpreted) with one warning saying so.
"""

from __future__ import annotations

import os
import runpy
import sys
import tempfile
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).parent
SOURCE_ROOT = "src"
COMPILED_MODULES = runpy.run_path(str(ROOT / SOURCE_ROOT / "calarb" / "compiled.py"))[
    "COMPILED_MODULES"
]
# Safe everywhere. boundscheck and wraparound stay on: Cython takes those per function only
# from decorators in the .py, which would make Cython a run-time dependency of the pure mode.
COMPILER_DIRECTIVES = {
    "language_level": 3,
    "annotation_typing": False,  # types come from the .pxd files, annotations stay documentation
    "embedsignature": True,
}


def _source(module: str, suffix: str) -> str:
    return os.path.join(SOURCE_ROOT, *module.split(".")) + suffix


def _extensions() -> list[Extension]:
    extensions = []
    for module in COMPILED_MODULES:
        if not (ROOT / _source(module, ".pxd")).is_file():
            raise SystemExit(f"setup.py: compiled module {module} has no .pxd beside its .py")
        extensions.append(Extension(module, [_source(module, ".py")]))
    return extensions


def _warn_pure(reason: str) -> None:
    print(
        f"WARNING: calarb is installed PURE (interpreted, several times slower on the tick "
        f"path): {reason}. Install Cython and a C compiler, then reinstall, to compile "
        f"{len(COMPILED_MODULES)} hot-path modules.",
        file=sys.stderr,
    )


class OptionalBuildExt(build_ext):
    """Cythonizes and compiles the extensions when it can, else leaves the package pure."""

    def build_extensions(self) -> None:
        reason = self._missing_toolchain()
        if reason:
            _warn_pure(reason)
            self.extensions = []
            return
        from Cython.Build import cythonize

        workers = os.cpu_count() or 1
        translated = cythonize(
            self.extensions,
            compiler_directives=COMPILER_DIRECTIVES,
            include_path=[SOURCE_ROOT],
            quiet=True,
            nthreads=workers if workers > 1 else 0,  # translate modules side by side
        )
        # keep setuptools' own Extension objects (finalized), now with the generated C
        for extension, generated in zip(self.extensions, translated, strict=True):
            extension.sources = generated.sources
            if self.compiler.compiler_type == "unix":
                # after the interpreter's -O3 -g: these win (-g0: no debug info, 4x smaller)
                extension.extra_compile_args = ["-O2", "-g0"]
        if not self.parallel:
            self.parallel = workers  # and compile their C side by side
        super().build_extensions()

    def _missing_toolchain(self) -> str | None:
        try:
            import Cython  # noqa: F401
        except ImportError:
            return "Cython is not installed"
        with tempfile.TemporaryDirectory() as scratch:
            probe = os.path.join(scratch, "probe.c")
            with open(probe, "w") as file:
                file.write("#include <Python.h>\nint calarb_probe(void) { return 0; }\n")
            try:
                self.compiler.compile([probe], output_dir=scratch, include_dirs=self.include_dirs)
            except Exception as exc:  # CompileError, a missing executable, ...
                return f"no working C compiler ({type(exc).__name__}: {exc})".strip()
        return None

    def get_outputs(self) -> list[str]:
        return super().get_outputs() if self.extensions else []


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
