#!/usr/bin/env bash
# The Python SDK's CI: lint, format check, mypy --strict and the pytest suite against real
# schedulerd processes. Needs SCHEDULERD_BIN and CLUSTERCTL_BIN (paths to the
# built binaries); the tests start and kill their own clusters.
#
#   SCHEDULERD_BIN=target/release/schedulerd CLUSTERCTL_BIN=target/release/clusterctl sdk/python/ci.sh
#
# The virtualenv is cached under ${XDG_CACHE_HOME:-$HOME/.cache}/schedulerd-sdk,
# keyed on pyproject.toml and the Python version. Extra arguments go to pytest.
set -euo pipefail

SDK="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SDK/../.." && pwd)"
PYTHON="${PYTHON:-python3}"

if [[ -z "${SCHEDULERD_BIN:-}" || -z "${CLUSTERCTL_BIN:-}" ]]; then
  echo "sdk/python/ci.sh: set SCHEDULERD_BIN and CLUSTERCTL_BIN to the built binaries" >&2
  exit 2
fi
for bin in "$SCHEDULERD_BIN" "$CLUSTERCTL_BIN"; do
  [[ -x "$bin" ]] || { echo "sdk/python/ci.sh: $bin is not an executable file" >&2; exit 2; }
done
SCHEDULERD_BIN="$(cd "$(dirname "$SCHEDULERD_BIN")" && pwd)/$(basename "$SCHEDULERD_BIN")"
CLUSTERCTL_BIN="$(cd "$(dirname "$CLUSTERCTL_BIN")" && pwd)/$(basename "$CLUSTERCTL_BIN")"
export SCHEDULERD_BIN CLUSTERCTL_BIN
export GRPC_VERBOSITY="${GRPC_VERBOSITY:-ERROR}"  # gRPC core's INFO lines (GOAWAY on close) are noise

key="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-$(sha256sum "$SDK/pyproject.toml" | cut -c1-16)"
VENV="${XDG_CACHE_HOME:-$HOME/.cache}/schedulerd-sdk/venv-$key"
if [[ ! -x "$VENV/bin/python" || ! -f "$VENV/.complete" ]]; then
  echo "--- creating $VENV"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip setuptools wheel
  # Dependencies (and test tools) from wheels only.
  "$VENV/bin/pip" install --quiet --only-binary=:all: "$SDK[test]"
  touch "$VENV/.complete"
fi
# The package itself, as a user installs it (not editable), fresh each run.
"$VENV/bin/pip" install --quiet --no-deps --force-reinstall --no-build-isolation "$SDK"

cd "$SDK"  # the config's relative paths (the generated stubs' exclusion) are read from here
echo "--- ruff check"
"$VENV/bin/ruff" check --config pyproject.toml . "$REPO/examples"
echo "--- ruff format --check"
"$VENV/bin/ruff" format --check --config pyproject.toml . "$REPO/examples"
echo "--- mypy (strict, the package's source)"
"$VENV/bin/mypy" src

echo "--- pytest"
set +e
# Run from a directory where the source tree's src/ is not importable: the
# installed package is what is tested.
"$VENV/bin/python" -m pytest -p no:cacheprovider "$@"
rc=$?
set -e
if [[ $rc -eq 5 ]]; then
  echo "sdk/python/ci.sh: pytest collected no tests: that is a failure" >&2
  exit 1
fi
exit $rc
