#!/usr/bin/env bash
# e2e.sh PREFIX: Cloud Foundry's path, end to end. A real Garden server (../shared/garden, see
# its README) started the way BOSH's garden job starts it, with both stores made the way BOSH
# makes them (the unprivileged one owned by 4294967294 and used by root), on a btrfs
# filesystem with quotas. Then privileged and unprivileged containers from an OCI layout, a
# registry image and a preloaded+layer URL (the droplet over HTTPS with client certificates);
# a process run in each and its output read; metrics (our stats); a disk limit that holds;
# destroy; and nothing left in either store, nor on the host.
# Exits 77 (skipped) when the Garden binaries are not there.
set -euo pipefail

PREFIX=$(realpath "$1")
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
GARDEN=${GARDEN_DIR:-$SRC/../shared/garden}
if [[ ! -x $GARDEN/bin/gdn ]]; then
  echo "SKIP: no Garden server at $GARDEN"
  exit 77
fi
for tool in iptables runc mkfs.btrfs btrfs docker-registry skopeo openssl python3; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
done

G=$PREFIX/bin/grootfs
B=$GARDEN/bin
MAXIMUS=4294967294
W=$(mktemp -d /var/tmp/grootfs-garden-XXXXXX)
chmod 755 "$W"
TAG=q  # one character: gdn builds bridge names from it
PORT=$((20000 + RANDOM % 20000))
REG_PORT=$((PORT + 1))
HTTPS_PORT=$((PORT + 2))
RUN=e2e$RANDOM  # container handles are unique to this run
pids=()
LOOP=""
declare -A images=()
FORWARD=$(cat /proc/sys/net/ipv4/ip_forward)  # gdn turns it on; it is put back

gc() { "$B/gclient" -addr "127.0.0.1:$PORT" "$@"; }
fail() { echo "FAIL: $*"; echo "--- gdn log (errors)"; grep -E '"level":"(error|fatal)"' "$W/gdn.log" | tail -20 | cut -c1-400 || true; exit 1; }
step() { echo "== $*"; }

cleanup() {
  set +e
  for h in "${!images[@]}" u-limit; do
    gc destroy "$RUN-$h" >/dev/null 2>&1
    runc delete -f "$RUN-$h" >/dev/null 2>&1
  done
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  for s in unprivileged privileged; do
    [[ -d $W/fs/$s ]] && "$G" --store "$W/fs/$s" delete-store >/dev/null 2>&1
  done
  grep -o " $W/[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
  [[ -n $LOOP ]] && losetup -d "$LOOP"
  # What gdn leaves when it is killed: its chains, links and cgroups carry the tag.
  for table in filter nat; do
    iptables -t $table -S 2>/dev/null | grep -E -- "^-A .* -j w-$TAG-" | sed 's/^-A/-D/' |
      while read -r rule; do eval iptables -t $table "$rule"; done
    chains=$(iptables -t $table -S 2>/dev/null | grep -oE -- "^-N w-$TAG-[^ ]+" | awk '{print $2}')
    for c in $chains; do iptables -t $table -F "$c"; done
    for c in $chains; do iptables -t $table -X "$c"; done
  done
  ip -o link show 2>/dev/null | grep -oE "w${TAG}[^:@ ]+" | sort -u | while read -r l; do ip link del "$l"; done
  # gdn's cgroup hierarchies, mounted under /tmp/cgroups-TAG.
  grep -oE " /tmp/cgroups-$TAG(/[^ ]*)? " /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m"; done
  rmdir /tmp/cgroups-$TAG/* /tmp/cgroups-$TAG 2>/dev/null
  echo "$FORWARD" >/proc/sys/net/ipv4/ip_forward
  rm -rf "$W"
}
trap cleanup EXIT

step "btrfs with quotas, both stores made as BOSH makes them"
truncate -s 1G "$W/fs.img"
mkfs.btrfs -q "$W/fs.img"
LOOP=$(losetup --find --show "$W/fs.img")
mkdir -p "$W/fs"
mount "$LOOP" "$W/fs"
btrfs quota enable "$W/fs"
"$G" --store "$W/fs/unprivileged" init-store \
  --uid-mapping 0:$MAXIMUS:1 --uid-mapping 1:1:$((MAXIMUS - 1)) \
  --gid-mapping 0:$MAXIMUS:1 --gid-mapping 1:1:$((MAXIMUS - 1))
"$G" --store "$W/fs/privileged" init-store
[[ $(stat -c %u "$W/fs/unprivileged") == "$MAXIMUS" ]] || fail "the unprivileged store is not 4294967294's"

step "a registry with the alpine image, and an HTTPS server with client certificates for the droplet"
mkdir -p "$W/reg/data"
cat >"$W/reg/config.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $W/reg/data
http:
  addr: 127.0.0.1:$REG_PORT
EOF
docker-registry serve "$W/reg/config.yml" >"$W/reg/log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$REG_PORT) 2>/dev/null && break; sleep 0.1; done
skopeo copy --quiet --dest-tls-verify=false "oci:$SRC/tests/fixtures/images/alpine" \
  "docker://127.0.0.1:$REG_PORT/app/alpine:latest"

certs=$W/certs
mkdir -p "$certs" "$W/www"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=grootfs-test-ca \
  -keyout "$certs/ca.key" -out "$certs/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
  -keyout "$certs/server.key" -out "$certs/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >"$certs/san.ext"
openssl x509 -req -in "$certs/server.csr" -CA "$certs/ca.crt" -CAkey "$certs/ca.key" \
  -CAcreateserial -days 2 -extfile "$certs/san.ext" -out "$certs/server.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=cell -keyout "$certs/client.key" \
  -out "$certs/client.csr" 2>/dev/null
openssl x509 -req -in "$certs/client.csr" -CA "$certs/ca.crt" -CAkey "$certs/ca.key" \
  -CAcreateserial -days 2 -out "$certs/client.cert" 2>/dev/null
# What grootfs reads: the CA (*.crt) and the client pair (*.cert, *.key).
mkdir -p "$W/client-certs"
cp "$certs/ca.crt" "$W/client-certs/ca.crt"
cp "$certs/client.cert" "$W/client-certs/client.cert"
cp "$certs/client.key" "$W/client-certs/client.key"
# The droplet: one file under /home/vcap.
mkdir -p "$W/droplet/app"
echo "droplet says hi" >"$W/droplet/app/hello.txt"
tar -C "$W/droplet" -czf "$W/www/droplet.tgz" app
DROPLET_SHA=$(sha256sum "$W/www/droplet.tgz" | cut -d' ' -f1)
python3 - "$W/www" "$HTTPS_PORT" "$certs" >"$W/https.log" 2>&1 <<'EOF' &
import http.server, ssl, sys, functools
root, port, certs = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(certs + "/server.crt", certs + "/server.key")
ctx.load_verify_locations(certs + "/ca.crt")
ctx.verify_mode = ssl.CERT_REQUIRED
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
EOF
pids+=($!)
# The preloaded rootfs: a plain tar of alpine.
bash "$SRC/tests/support/make_rootfs_tar.sh" "$W/rootfs.tar"

for store in unprivileged privileged; do
  cat >"$W/$store.yml" <<EOF
log_level: info
create:
  skip_layer_validation: true
  insecure_registries: ["127.0.0.1:$REG_PORT"]
  remote_layer_client_certificates_path: $W/client-certs
EOF
done

step "gdn, as BOSH starts it"
mkdir -p "$W/depot" "$W/console-sockets"
"$B/gdn" server --tag $TAG --bind-ip 127.0.0.1 --bind-port "$PORT" \
  --depot "$W/depot" --properties-path "$W/props.json" \
  --port-pool-properties-path "$W/ports.json" --console-sockets-path "$W/console-sockets" \
  --iptables-bin "$(command -v iptables)" --iptables-restore-bin "$(command -v iptables-restore)" \
  --init-bin "$B/init" --dadoo-bin "$B/dadoo" --nstar-bin "$B/nstar" --tar-bin "$(command -v tar)" \
  --runtime-plugin "$GARDEN/runc-capshim" \
  --image-plugin "$G" --image-plugin-extra-arg=--store --image-plugin-extra-arg="$W/fs/unprivileged" \
  --image-plugin-extra-arg=--config --image-plugin-extra-arg="$W/unprivileged.yml" \
  --privileged-image-plugin "$G" --privileged-image-plugin-extra-arg=--store \
  --privileged-image-plugin-extra-arg="$W/fs/privileged" \
  --privileged-image-plugin-extra-arg=--config --privileged-image-plugin-extra-arg="$W/privileged.yml" \
  --uid-map-start 1 --uid-map-length $((MAXIMUS - 1)) --gid-map-start 1 --gid-map-length $((MAXIMUS - 1)) \
  --default-grace-time 0 --log-level debug >"$W/gdn.log" 2>&1 &
GDN=$!
pids+=($GDN)
for _ in $(seq 100); do gc ping >/dev/null 2>&1 && break; sleep 0.2; done
gc ping >/dev/null || fail "gdn did not start"

ALPINE=oci://$SRC/tests/fixtures/images/alpine
DOCKER=docker://127.0.0.1:$REG_PORT/app/alpine#latest
PRELOADED="preloaded+layer://$W/rootfs.tar?layer=https://127.0.0.1:$HTTPS_PORT/droplet.tgz&layer_path=/home/vcap&layer_digest=$DROPLET_SHA"
images=(
  [u-oci]="$ALPINE" [p-oci]="$ALPINE"
  [u-reg]="$DOCKER" [p-reg]="$DOCKER"
  [u-drop]="$PRELOADED" [p-drop]="$PRELOADED"
)
for h in "${!images[@]}"; do
  step "create $h from ${images[$h]}"
  flags=()
  [[ $h == p-* ]] && flags+=(-privileged)
  out=$(gc create -handle "$RUN-$h" -image "${images[$h]}" "${flags[@]}" 2>&1) || fail "create $h: $out"
  out=$(gc run -handle "$RUN-$h" -- /bin/sh -c 'echo "hello from $(hostname)"') || fail "run in $h: $out"
  [[ $out == "hello from $RUN-$h" ]] || fail "run in $h printed: $out"
done
out=$(gc run -handle "$RUN-u-drop" -- /bin/cat /home/vcap/app/hello.txt) || fail "droplet: $out"
[[ $out == "droplet says hi" ]] || fail "the droplet's file reads: $out"

step "ownership per the mappings"
# In the unprivileged container, root's files are its own root's (namespace 0).
out=$(gc run -handle "$RUN-u-oci" -- /bin/sh -c 'stat -c %u:%g /etc/shadow; touch /tmp/new && stat -c %u /tmp/new') ||
  fail "stat in u-oci: $out"
[[ $out == $'0:42\n0' ]] || fail "ownership in the unprivileged container: $out"
rootfs=$(ls -d "$W"/fs/unprivileged/images/*/rootfs | head -1)
[[ $(stat -c %u "$rootfs/etc/passwd") == "$MAXIMUS" ]] || fail "unprivileged rootfs files are not 4294967294's on the host"

step "metrics (our stats)"
out=$(gc metrics "$RUN-u-oci") || fail "metrics: $out"
used=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["DiskStat"]["TotalBytesUsed"])' <<<"$out")
((used > 1000000)) || fail "metrics report $used bytes used"

step "a disk limit holds (btrfs qgroups)"
out=$(gc create -handle "$RUN-u-limit" -image "$ALPINE" -disk 20000000 -scope exclusive 2>&1) || fail "create with a limit: $out"
if gc run -handle "$RUN-u-limit" -- /bin/sh -c 'dd if=/dev/zero of=/big bs=1M count=40 2>/dev/null && sync /big'; then
  fail "40 MB were written past a 20 MB limit"
fi
gc run -handle "$RUN-u-limit" -- /bin/sh -c 'rm -f /big; sync; dd if=/dev/zero of=/small bs=1M count=5 2>/dev/null' || fail "5 MB within the limit failed"

step "destroy everything; nothing left"
for h in "${!images[@]}" u-limit; do gc destroy "$RUN-$h" >/dev/null || fail "destroy $h"; done
for s in unprivileged privileged; do
  left=$("$G" --store "$W/fs/$s" list)
  [[ $left == "Store empty" || -z $left ]] || fail "$s store still lists: $left"
  [[ -z $(ls "$W/fs/$s/images") ]] || fail "$s store still has images"
done
if grep -q " $W/fs/[a-z]*/images/" /proc/self/mountinfo; then fail "rootfs mounts left"; fi
gc list | grep -q . && fail "gdn still lists containers"
kill -TERM $GDN
wait $GDN 2>/dev/null || true
for s in unprivileged privileged; do
  "$G" --store "$W/fs/$s" delete-store || fail "delete-store $s"
  [[ ! -e $W/fs/$s ]] || fail "$s store remains"
done
echo "PASS: Garden e2e (6 containers from 3 image kinds, both stores, a disk limit)"
