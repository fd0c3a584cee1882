"""Build script for the native extension ``emofast._C``.

Install with ``pip install --no-build-isolation -e .`` after installing torch (see README):
the extension is compiled against the torch that is already installed, and build isolation
would otherwise pull a (multi-GB, CUDA) torch into a throw-away build environment.

Environment variables
---------------------
EMOFAST_CUDA   "1" forces the CUDA extension (fails clearly if torch has no CUDA or no toolkit),
               "0" forces CPU-only; unset: CUDA only when torch has CUDA and a toolkit is found.
EMOFAST_DEBUG  "1" compiles with -O0 -g.

Sources
-------
Every ``.cpp`` file under ``csrc/`` is compiled, whatever its name (one folder per op family:
``csrc/<family>/``). CUDA-only sources are ``.cu`` files and everything inside a ``cuda/`` folder
(``csrc/<family>/cuda/``: kernels and their ATen glue); they are compiled only in CUDA builds.
Object files are named after their source without its suffix, so two sources with the same name
but for the suffix (``x.cpp`` and ``x.cu``) would collide ("multiple rules generate x.o"): every
source must have a basename of its own, and the build stops with both names if two do not.
``.ci/cuda_check.sh`` lists the CUDA build's sources with :func:`sources` too, so CI, which cannot
link CUDA, still catches a collision.
"""
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

#: Run-time dependencies besides torch (pyproject.toml declares ``dependencies`` dynamic).
RUNTIME_DEPENDENCIES = [
    "numpy>=1.24",
    "scipy>=1.10",
    "numba>=0.59",
    "soundfile>=0.12",
    "av>=14",
    "opencv-python-headless>=4.8,<5",
    "tqdm>=4.60",
]


def torch_requirement() -> str:
    """``torch==X.Y.Z``: the torch this build compiles ``emofast._C`` against (the C++ ABI of an
    extension is tied to one torch release; a local label such as ``+cpu`` or ``+cu128`` is left
    out, so any build of that release satisfies it)."""
    return "torch==" + torch.__version__.split("+")[0]


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


def _cuda_only(rel: str) -> bool:
    """Whether a source (path relative to this file) is compiled only in CUDA builds."""
    return rel.endswith(".cu") or "cuda" in rel.split(os.sep)[:-1]


def check_object_names(srcs: list[str]) -> None:
    """Stops the build when two sources would compile to object files of the same name."""
    by_stem: dict[str, list[str]] = {}
    for src in srcs:
        by_stem.setdefault(os.path.splitext(os.path.basename(src))[0], []).append(src)
    clashes = {stem: paths for stem, paths in by_stem.items() if len(paths) > 1}
    if clashes:
        lines = [f"  {stem}.o <- {', '.join(paths)}" for stem, paths in sorted(clashes.items())]
        raise SystemExit(
            "emofast: these sources would compile to object files of the same name, so the build could "
            "not link (ninja: multiple rules generate the same .o); give each source a name of its own:\n"
            + "\n".join(lines)
        )


def sources(cuda: bool) -> list[str]:
    """Every source under csrc/ that a CPU-only (``cuda=False``) or CUDA build compiles, sorted,
    as paths relative to this file. The object names are checked over the CUDA build's list in
    both cases, so a CPU-only build also stops on a collision that would break CUDA builds."""
    found = []
    for root, dirs, files in os.walk(os.path.join(HERE, "csrc")):
        dirs.sort()
        found += [os.path.relpath(os.path.join(root, f), HERE) for f in sorted(files) if f.endswith((".cpp", ".cu"))]
    check_object_names(found)
    return found if cuda else [src for src in found if not _cuda_only(src)]


def extensions():
    debug = os.environ.get("EMOFAST_DEBUG") == "1"
    # -g0: Python's own CFLAGS (sysconfig) carry -g, which would make a 16 MB library and slow builds.
    cxx = ["-O0", "-g"] if debug else ["-O3", "-g0"]
    # -ffp-contract=fast: let a*b+c become one FMA (the exact-difference distance kernel is
    # arithmetic-bound: sub + FMA per pair-feature instead of sub + mul + add).
    cxx += ["-fopenmp", "-std=c++17", "-ffp-contract=fast", "-Wno-unknown-pragmas"]
    cuda = _want_cuda()
    srcs = sources(cuda)
    kwargs = dict(
        include_dirs=[os.path.join(HERE, "csrc")],
        extra_link_args=["-fopenmp"],
    )
    if cuda:
        nvcc = ["-O0", "-g", "-G"] if debug else ["-O3"]
        nvcc += ["-std=c++17", "--expt-relaxed-constexpr"]
        return [
            cpp_extension.CUDAExtension(
                "emofast._C",
                srcs,
                extra_compile_args={"cxx": cxx + ["-DEMOFAST_WITH_CUDA"], "nvcc": nvcc},
                **kwargs,
            )
        ]
    return [cpp_extension.CppExtension("emofast._C", srcs, extra_compile_args={"cxx": cxx}, **kwargs)]


# .ci/cuda_check.sh loads this file for sources() without building: setup() runs only as a script
# (python setup.py ..., pip and setuptools' build backend run it as __main__).
if __name__ == "__main__":
    setup(
        packages=find_packages(include=["emofast", "emofast.*"]),
        install_requires=[torch_requirement(), *RUNTIME_DEPENDENCIES],
        ext_modules=extensions(),
        cmdclass={"build_ext": cpp_extension.BuildExtension.with_options(use_ninja=True)},
    )
