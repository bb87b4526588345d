#!/usr/bin/env bash
# Builds the docker compose CLI plugin from the Go module proxy, so that
# tests/unit/test_compose.py can run `docker compose config` (the real parser)
# on machines with the docker CLI but no plugin and no download site, like the
# ones this project is developed on. Does nothing when the plugin is there or
# there is no docker CLI; without Go, or if the build fails, the test says it
# skipped that check and why. Usage: install_compose_cli.sh vX.Y.Z
set -euo pipefail
version=${1:?usage: install_compose_cli.sh vX.Y.Z}
plugin=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins/docker-compose
command -v docker >/dev/null || exit 0
docker compose version >/dev/null 2>&1 && exit 0

echo "==> setup: docker compose $version plugin from the Go module proxy (~4 min, once)"
if bash "$(dirname "$0")/../tools/go_build.sh" github.com/docker/compose/v2 "$version" ./cmd "$plugin" \
     "-X github.com/docker/compose/v2/internal.Version=$version"; then
  docker compose version
else
  echo "==> setup: building docker compose failed (above); its check will be skipped" >&2
fi
