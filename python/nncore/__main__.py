"""``python -m nncore --cmake-dir`` prints where CMake finds nncore (as pybind11 does)."""
from __future__ import annotations

import argparse
import sys

import nncore


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nncore", description=__doc__)
    parser.add_argument("--cmake-dir", action="store_true", help="print the CMake package directory")
    parser.add_argument("--include-dir", action="store_true", help="print the C++ include directory")
    parser.add_argument("--version", action="store_true", help="print the version")
    args = parser.parse_args(argv)
    if args.cmake_dir:
        print(nncore.get_cmake_dir())
    elif args.include_dir:
        print(nncore.get_include_dir())
    elif args.version:
        print(nncore.__version__)
    else:
        print(f"nncore {nncore.__version__}: isa={nncore.get_isa()} threads={nncore.get_num_threads()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
