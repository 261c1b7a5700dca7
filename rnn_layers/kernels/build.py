"""Compile rnn_chain.cc into the op library `_rnn_chain.so` beside it: `python -m rnn_layers.kernels.build`.

`make install` (and so `make train` / `make test`) runs this. It needs a C++17 compiler (g++) and the
installed TensorFlow's headers; the library is built for this machine's CPU (`-march=native`) and this
TensorFlow version, so build it again on another machine or after upgrading TensorFlow.
"""
import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from rnn_layers.kernels import LIBRARY, SOURCE


def compile_command(output, compiler="g++"):
    """The compiler's arguments: TensorFlow's own flags, optimized for this CPU."""
    import tensorflow as tf

    return [
        compiler, "-O3", "-march=native",
        "-mno-avx512fp16",  # gcc 12 cannot compile Eigen's AVX512-FP16 packets
        # Eigen's templates stay private: the loader must not bind them to the copies
        # libtensorflow_framework.so exports, which are built for a generic x86-64 CPU.
        "-fvisibility=hidden", "-fvisibility-inlines-hidden",
        "-shared", "-fPIC", "-w", str(SOURCE), "-o", str(output),
        *tf.sysconfig.get_compile_flags(), *tf.sysconfig.get_link_flags(),
    ]


def build(output=LIBRARY, compiler="g++"):
    """Compile to a temporary file, then move it to `output`: a failed build leaves the old library."""
    output = Path(output)
    with tempfile.TemporaryDirectory(dir=output.parent) as scratch:
        built = Path(scratch) / output.name
        subprocess.run(compile_command(built, compiler), check=True)
        os.replace(built, output)
    return output


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=LIBRARY)
    parser.add_argument("--compiler", default=os.environ.get("CXX", "g++"))
    args = parser.parse_args(argv)
    try:
        print(f"built {build(args.output, args.compiler)}")
    except (OSError, subprocess.CalledProcessError) as error:
        sys.exit(f"error: building {SOURCE.name} failed: {error}")


if __name__ == "__main__":
    main()
