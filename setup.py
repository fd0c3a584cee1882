"""Build script for the native extension ``emofast._C``.

Install with ``pip install --no-build-isolation -e .`` after installing torch (see README):
the extension is compiled against the torch that is already installed, and build isolation
would otherwise pull a (multi-GB, CUDA) torch into a throw-away build environment.

Environment variables
---------------------
EMOFAST_CUDA   "1" forces the CUDA extension (fails clearly if torch has no CUDA or no toolkit),
               "0" forces CPU-only; unset: CUDA only when torch has CUDA and a toolkit is found.
EMOFAST_DEBUG  "1" compiles with -O0 -g.
"""
import glob
import os
import sys

from setuptools import find_packages, setup

try:
    import torch
    from torch.utils import cpp_extension
except ImportError:  # pragma: no cover - build-time guard
    sys.exit(
        "emofast: torch must be installed before building (pip install torch==2.13.0), then "
        "`pip install --no-build-isolation -e .` so that the build uses that torch."
    )

HERE = os.path.dirname(os.path.abspath(__file__))


def _want_cuda() -> bool:
    flag = os.environ.get("EMOFAST_CUDA")
    available = torch.version.cuda is not None and cpp_extension.CUDA_HOME is not None
    if flag == "1":
        if not available:
            sys.exit(
                "emofast: EMOFAST_CUDA=1 but the installed torch has no CUDA "
                f"(torch.version.cuda={torch.version.cuda}) or no toolkit was found "
                f"(CUDA_HOME={cpp_extension.CUDA_HOME})."
            )
        return True
    if flag == "0":
        return False
    return available


def _sources(pattern: str) -> list[str]:
    return sorted(os.path.relpath(p, HERE) for p in glob.glob(os.path.join(HERE, "csrc", pattern), recursive=True))


def extensions():
    debug = os.environ.get("EMOFAST_DEBUG") == "1"
    # -g0: Python's own CFLAGS (sysconfig) carry -g, which would make a 16 MB library and slow builds.
    cxx = ["-O0", "-g"] if debug else ["-O3", "-g0"]
    # -ffp-contract=fast: let a*b+c become one FMA (the exact-difference distance kernel is
    # arithmetic-bound: sub + FMA per pair-feature instead of sub + mul + add).
    cxx += ["-fopenmp", "-std=c++17", "-ffp-contract=fast", "-Wno-unknown-pragmas"]
    # Only the kernels and the registration; the CUDA side lives in *_cuda.cu / *_cuda.cpp.
    sources = ["csrc/ops.cpp"] + _sources("**/*_cpu.cpp") + _sources("**/*_autograd.cpp")
    kwargs = dict(
        include_dirs=[os.path.join(HERE, "csrc")],
        extra_link_args=["-fopenmp"],
    )
    if _want_cuda():
        sources += _sources("**/*_cuda.cpp") + _sources("**/*_cuda.cu")
        nvcc = ["-O0", "-g", "-G"] if debug else ["-O3"]
        nvcc += ["-std=c++17", "--expt-relaxed-constexpr"]
        return [
            cpp_extension.CUDAExtension(
                "emofast._C",
                sources,
                extra_compile_args={"cxx": cxx + ["-DEMOFAST_WITH_CUDA"], "nvcc": nvcc},
                **kwargs,
            )
        ]
    return [cpp_extension.CppExtension("emofast._C", sources, extra_compile_args={"cxx": cxx}, **kwargs)]


setup(
    packages=find_packages(include=["emofast", "emofast.*"]),
    ext_modules=extensions(),
    cmdclass={"build_ext": cpp_extension.BuildExtension.with_options(use_ninja=True)},
)
