#!/usr/bin/env bash
# Build the book: execute the notebooks (papermill, only those whose inputs changed), then render the HTML
# into _build/html. --quick: use the small "quick" parameters of notebooks/parameters.yaml.
# Prints one progress bar over the notebooks and, at the end, a summary: seconds per notebook, reproduction rows
# by status and the path of index.html. Sphinx's output goes to _build/jupyter-book.log (shown when it fails).
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
bash scripts/data.sh  # offline image data (Fashion-MNIST, MNIST) into data/raw; silent and fast when present
summary="$(python -m lowdim.book.build --mode "$mode")"
mkdir -p _build
log=_build/jupyter-book.log
start=$SECONDS
if ! jupyter-book build -W -n --keep-going . > "$log" 2>&1; then
    printf '%s\n' "$summary"
    grep -E "WARNING|ERROR|Error|Exception" "$log" >&2 || tail -n 40 "$log" >&2
    echo "book.sh: jupyter-book build failed (full log: $(pwd)/$log)" >&2
    exit 1
fi
printf '%s\nHTML rendered in %d s (log: %s)\nbook: %s\n' "$summary" "$((SECONDS - start))" "$log" \
    "$(pwd)/_build/html/index.html"
