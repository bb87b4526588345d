#!/usr/bin/env bash
# Builds the docker compose CLI plugin from the Go module proxy, so that
# tests/unit/test_compose.py can run `docker compose config` (the real parser)
# on machines with the docker CLI but no plugin and no download site, like the
# ones this project is developed on. Does nothing when the plugin is there or
# there is no docker CLI; without Go, or if the build fails, the test says it
# skipped that check and why. Usage: install_compose_cli.sh vX.Y.Z
set -euo pipefail
version=${1:?usage: install_compose_cli.sh vX.Y.Z}
plugin_dir=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins
command -v docker >/dev/null || exit 0
docker compose version >/dev/null 2>&1 && exit 0
command -v go >/dev/null || { echo "==> setup: no Go toolchain, so no docker compose plugin: its check will be skipped"; exit 0; }

echo "==> setup: docker compose $version plugin from the Go module proxy (~4 min, once)"
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
# Compose's go.mod has exclude directives, so `go install pkg@version` refuses it: build in a copy.
if source=$(go mod download -json "github.com/docker/compose/v2@$version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])') \
   && cp -r "$source" "$work/src" && chmod -R u+w "$work/src" && mkdir -p "$plugin_dir" \
   && (cd "$work/src" && go build -trimpath -ldflags "-X github.com/docker/compose/v2/internal.Version=$version" \
         -o "$plugin_dir/docker-compose" ./cmd); then
  docker compose version
else
  echo "==> setup: building docker compose failed (above); its check will be skipped" >&2
fi
