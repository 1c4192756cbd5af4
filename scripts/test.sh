#!/usr/bin/env bash
# Run the test suite (arguments go to pytest); includes executing every notebook and building the book.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
python -m pytest -q "$@"
