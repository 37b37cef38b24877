#!/usr/bin/env bash
# Installs Mesa's EGL/OpenGL ES drivers so that the WebGPU tests (test/backends/webgpu.test.ts)
# run on a software adapter: Dawn (the `webgpu` npm package) → OpenGL ES → Mesa llvmpipe, with
# EGL_PLATFORM=surfaceless (the backend sets it when unset). Idempotent, and never fails CI:
# without these libraries the WebGPU tests skip and say why.
PKGS="libegl1 libegl-mesa0 libgles2"
missing=""
for p in $PKGS; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
if [ -z "$missing" ]; then
  echo "ci-webgpu-setup: $PKGS present"
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "ci-webgpu-setup: missing$missing and not root; WebGPU tests will skip" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ci-webgpu-setup: missing$missing and no apt-get; WebGPU tests will skip" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
if ! apt-get install -y --no-install-recommends $missing >/dev/null 2>&1; then
  # package lists may be missing on a fresh image
  apt-get update >/dev/null 2>&1 || true
  # shellcheck disable=SC2086
  apt-get install -y --no-install-recommends $missing >/dev/null 2>&1 || true
fi
still=""
for p in $missing; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || still="$still $p"
done
if [ -z "$still" ]; then
  echo "ci-webgpu-setup: installed$missing"
else
  echo "ci-webgpu-setup: could not install$still; WebGPU tests will skip" >&2
fi
exit 0
