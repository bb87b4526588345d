#!/usr/bin/env bash
# Builds a Go command from the Go module proxy, for machines that have Go but
# no download site: the module's source at an exact version, built in a copy
# (a go.mod with replace or exclude directives makes `go install pkg@version`
# refuse it). Usage: go_build.sh MODULE VERSION PACKAGE OUTPUT [LDFLAGS]
#   e.g. go_build.sh github.com/f1bonacc1/process-compose v1.87.0 . .tools/bin/process-compose
set -euo pipefail
module=${1:?usage: go_build.sh MODULE VERSION PACKAGE OUTPUT [LDFLAGS]}
version=${2:?} package=${3:?} output=${4:?} ldflags=${5:-}
command -v go >/dev/null || { echo "go_build.sh: no Go toolchain to build $module $version" >&2; exit 1; }
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
source=$(go mod download -json "$module@$version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
cp -r "$source" "$work/src" && chmod -R u+w "$work/src"
mkdir -p "$(dirname "$output")"
output=$(cd "$(dirname "$output")" && pwd)/$(basename "$output")
(cd "$work/src" && go build -trimpath -ldflags "$ldflags" -o "$output" "$package")
