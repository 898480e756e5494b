#!/usr/bin/env bash
# Builds overinterp against the libtorch of a PyPI torch wheel (the torch most PyTorch users
# already have) instead of Debian's libtorch 1.13, and runs the test suite against it.
#
#   scripts/torch-pypi.sh build      # release build in .build-torch/ (binary: .build-torch/release/overinterp)
#   scripts/torch-pypi.sh test       # debug build with tests, then `swift test` (the whole suite)
#   scripts/torch-pypi.sh env        # print the LIBTORCH=... settings, for your own swift build
#
# TORCH_PIP_SPEC: what pip installs (default torch==2.13.0; any torch >= 2.7, CPU or CUDA wheel);
# TORCH_VENV: the virtual environment (default .venv-torch, reused between runs);
# TORCH_PYTHON: an existing Python whose torch to use instead of a venv.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${TORCH_PYTHON:-}" ]; then
  PY=$TORCH_PYTHON
else
  VENV=${TORCH_VENV:-.venv-torch}
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  PY=$VENV/bin/python
  "$PY" -m pip install -q --disable-pip-version-check "${TORCH_PIP_SPEC:-torch==2.13.0}"
fi
read -r TORCH ABI VERSION < <("$PY" -c 'import os, torch; print(os.path.dirname(torch.__file__), int(torch._C._GLIBCXX_USE_CXX11_ABI), torch.__version__)' 2>/dev/null)
export LIBTORCH=$TORCH LIBTORCH_CXX11_ABI=$ABI
echo "torch $VERSION at $TORCH (C++11 ABI: $ABI)" >&2
case "${1:-test}" in
  env) echo "LIBTORCH=$LIBTORCH LIBTORCH_CXX11_ABI=$LIBTORCH_CXX11_ABI" ;;
  build) swift build -c release --scratch-path .build-torch ;;
  test)
    swift build --build-tests --scratch-path .build-torch
    "$(swift build --scratch-path .build-torch --show-bin-path)/overinterp" --version
    swift test --skip-build --scratch-path .build-torch 2>&1
    ;;
  *) echo "usage: $0 build|test|env" >&2; exit 2 ;;
esac
