#!/usr/bin/env bash
# Run the test suite (arguments go to pytest); includes executing every notebook and building the book.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
bash scripts/data.sh  # offline image data (Fashion-MNIST, MNIST) into data/raw; fast when present
python -m pytest -q "$@"
