#!/usr/bin/env bash
# Run the test suite (arguments go to pytest): unit tests, every notebook executed in quick mode and the book built
# in the tests' own folder _build/test/ (the reader's book/generated/ and _build/html are left alone), and every
# page of that build checked in headless Chromium (screenshots in _build/test/_build/screenshots/).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
bash scripts/data.sh  # offline image data (Fashion-MNIST, MNIST) into data/raw; silent and fast when present
# The browser test drives Debian's chromium (Playwright with the system binary; no browser download).
if [ ! -x /usr/bin/chromium ]; then
    echo "test.sh: installing Debian's chromium for the browser test" >&2
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /dev/null
fi
python -m pytest -q "$@"
