#!/usr/bin/env bash
# Writes test/fixtures/onnx/: ONNX models exported by PyTorch's own exporter, their inputs and
# targets, and the features PyTorch's forward hooks see (see make_onnx_fixtures.py).
# Needs Debian's python3-torch and python3-onnx (they install into /usr/bin/python3, not a pyenv
# python3). Run as root, or with the packages already installed:
#   bash scripts/make_onnx_fixtures.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if ! /usr/bin/python3 -c 'import torch, onnx' 2>/dev/null; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y python3-torch python3-onnx
fi
/usr/bin/python3 examples/pytorch/test_capture.py
/usr/bin/python3 scripts/make_onnx_fixtures.py "$@"
