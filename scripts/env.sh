# Source this file (`source scripts/env.sh`): puts the project's .venv first on PATH, creating or updating it
# first when it is missing or requirements.txt / pyproject.toml changed since the last install.
_lowdim_pip() {
    # pip, with its "WARNING: Location '...' is ignored: ..." lines dropped (a machine's pip configuration may
    # name package folders that do not exist; pip says so once per package). Everything else pip prints stays.
    local out status
    out="$("$@" 2>&1)"
    status=$?
    [ -z "$out" ] || printf '%s\n' "$out" | grep -v -E "^WARNING: Location '[^']*' is ignored: " >&2
    return "$status"
}
_lowdim_env() {
    local root hash stamp py
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    hash="$(cat "$root/requirements.txt" "$root/pyproject.toml" | sha256sum | cut -d' ' -f1)"
    stamp="$root/.venv/.requirements.sha256"
    if [ ! -x "$root/.venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$hash" ]; then
        py="$(command -v python3.11 || command -v python3)" || { echo "env.sh: python3 not found" >&2; return 1; }
        echo "env.sh: installing requirements into $root/.venv" >&2
        "$py" -m venv "$root/.venv" &&
            _lowdim_pip "$root/.venv/bin/pip" install -q --disable-pip-version-check -r "$root/requirements.txt" &&
            _lowdim_pip "$root/.venv/bin/pip" install -q --disable-pip-version-check -e "$root" &&
            echo "$hash" > "$stamp" || { echo "env.sh: installation failed" >&2; return 1; }
    fi
    export VIRTUAL_ENV="$root/.venv"
    export PATH="$root/.venv/bin:$PATH"
}
_lowdim_env
_lowdim_status=$?
unset -f _lowdim_env _lowdim_pip
return "$_lowdim_status" 2>/dev/null || exit "$_lowdim_status"
