#!/usr/bin/env bash
# Build the book: execute the notebooks (papermill, only those whose inputs changed), then render the HTML
# into _build/html. --quick: use the small "quick" parameters of notebooks/parameters.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=full
for arg in "$@"; do
    case "$arg" in
        --quick) mode=quick ;;
        *) echo "usage: bash scripts/book.sh [--quick]" >&2; exit 2 ;;
    esac
done
source scripts/env.sh
bash scripts/data.sh  # offline image data (Fashion-MNIST, MNIST) into data/raw; fast when present
python -m lowdim.book.build --mode "$mode"
jupyter-book build -W -n --keep-going .
echo "book: $(pwd)/_build/html/index.html"
