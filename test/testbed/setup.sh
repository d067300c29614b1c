#!/usr/bin/env bash
# Brings up Berth's integration test bed on a Debian machine, as root:
# the Docker engine, a Docker Registry HTTP API v2 on 127.0.0.1, and tiny test
# images built FROM scratch with busybox (no public registry is reachable here).
# Idempotent: whatever is already installed or running is left as it is.
set -euo pipefail

readonly REGISTRY_ADDR="${BERTH_TEST_REGISTRY:-127.0.0.1:5000}"
readonly STATE_DIR="${BERTH_TESTBED_DIR:-/var/tmp/berth-testbed}"
readonly PACKAGES=(docker-registry busybox-static shellcheck jq systemd curl)

log() { printf 'testbed: %s\n' "$*" >&2; }

install_missing_packages() {
  local missing=()
  local pkg
  local -a wanted=("${PACKAGES[@]}")
  # A machine that already has an engine (e.g. docker-ce) keeps it: docker.io would conflict.
  command -v dockerd >/dev/null 2>&1 || wanted+=(docker.io)
  for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  if ((${#missing[@]} == 0)); then
    return 0
  fi
  if [[ $(id -u) -ne 0 ]]; then
    log "missing Debian packages: ${missing[*]}; run this script as root to install them"
    exit 1
  fi
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

wait_for() {
  local what="$1" seconds="$2"
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      log "$what did not come up within ${seconds}s"
      return 1
    fi
    sleep 0.5
  done
}

start_dockerd() {
  if docker info >/dev/null 2>&1; then
    return 0
  fi
  mkdir -p "$STATE_DIR"
  log "starting dockerd (log: $STATE_DIR/dockerd.log)"
  nohup dockerd >"$STATE_DIR/dockerd.log" 2>&1 &
  if ! wait_for dockerd 60 docker info; then
    tail -n 30 "$STATE_DIR/dockerd.log" >&2
    exit 1
  fi
}

registry_up() {
  busybox wget -q -O /dev/null "http://$REGISTRY_ADDR/v2/" 2>/dev/null
}

start_registry() {
  if registry_up; then
    return 0
  fi
  mkdir -p "$STATE_DIR/registry"
  # Debian's default config requires htpasswd auth; the test bed serves plain
  # HTTP on loopback, which the engine accepts as an insecure registry.
  cat >"$STATE_DIR/registry.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $STATE_DIR/registry
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
YAML
  log "starting docker-registry on $REGISTRY_ADDR (log: $STATE_DIR/registry.log)"
  nohup docker-registry serve "$STATE_DIR/registry.yml" >"$STATE_DIR/registry.log" 2>&1 &
  if ! wait_for registry 30 registry_up; then
    tail -n 30 "$STATE_DIR/registry.log" >&2
    exit 1
  fi
}

# berth-test/busybox: the base every test image starts from. Built once per
# engine; later builds reuse it from the engine's cache.
build_base_image() {
  if docker image inspect berth-test/busybox:latest >/dev/null 2>&1; then
    return 0
  fi
  local ctx
  ctx="$(mktemp -d)"
  cp "$(command -v busybox)" "$ctx/busybox"
  cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
ENV PATH=/bin
CMD ["/bin/sh"]
DOCKERFILE
  log "building berth-test/busybox FROM scratch"
  DOCKER_BUILDKIT=0 docker build -q -t berth-test/busybox:latest "$ctx" >/dev/null 2>&1
  rm -rf "$ctx"
}

main() {
  install_missing_packages
  start_dockerd
  start_registry
  build_base_image
  log "ready: docker client $(command -v docker) $(docker version --format '{{.Client.Version}}'), engine $(docker version --format '{{.Server.Version}}'), registry http://$REGISTRY_ADDR"
}

main "$@"
