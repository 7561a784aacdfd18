#!/usr/bin/env bash
# make_layers_image.sh DIR N [M...]
#
# Writes an OCI image layout at DIR (created; must not exist or be empty) with N gzip layers.
# Layer K (1..N, bottom to top) adds /layerK/file containing "K" and /data/top containing "K",
# so in the merged rootfs /data/top holds N (the topmost layer wins) and every /layerK/file
# exists. The config has rootfs.diff_ids (sha256 of each uncompressed tar) and Env PATH; the
# manifest, index.json (one manifest, no ref name) and oci-layout are all consistent.
# Output is deterministic: the same N gives the same digests.
# With more than one size, the layout holds one image per size, sharing its layers (layer K is
# the same blob in each): index.json lists one manifest per size, named by it
# (org.opencontainers.image.ref.name), so `oci://DIR:M` is the image of M layers.
#
# Needs only bash, tar, gzip, sha256sum and stat.
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 DIR N [M...]   (N, M >= 1 layers)" >&2
  exit 2
fi
out=$1
shift
sizes=("$@")
n=0
for m in "${sizes[@]}"; do
  [[ $m =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 DIR N [M...]   (N, M >= 1 layers)" >&2; exit 2; }
  if ((m > n)); then n=$m; fi
done

mkdir -p "$out/blobs/sha256"
if [[ -e "$out/index.json" ]]; then
  echo "$0: $out already holds a layout" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

sha256_of() { local s; s=$(sha256sum "$1"); echo "${s%% *}"; }
size_of() { stat -c %s "$1"; }

# Moves FILE into the blob store; prints its digest (hex only).
add_blob() {
  local digest
  digest=$(sha256_of "$1")
  mv -f "$1" "$out/blobs/sha256/$digest"
  echo "$digest"
}

TAR_FLAGS=(--sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu)

diff_id_of=()
layer_of=()
for ((k = 1; k <= n; k++)); do
  root="$work/layer"
  rm -rf "$root"
  mkdir -p "$root/layer$k" "$root/data"
  printf '%s' "$k" >"$root/layer$k/file"
  printf '%s' "$k" >"$root/data/top"
  chmod 0755 "$root/layer$k" "$root/data"
  chmod 0644 "$root/layer$k/file" "$root/data/top"

  tar -C "$root" "${TAR_FLAGS[@]}" -cf "$work/layer.tar" "layer$k" data
  diff_id=$(sha256_of "$work/layer.tar")
  gzip -n -9 -c "$work/layer.tar" >"$work/layer.tar.gz"
  size=$(size_of "$work/layer.tar.gz")
  digest=$(add_blob "$work/layer.tar.gz")

  diff_id_of[k]="\"sha256:$diff_id\""
  layer_of[k]="{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$digest\",\"size\":$size}"
done

manifests=""
for m in "${sizes[@]}"; do
  n=$m
  diff_ids=$(IFS=,; echo "${diff_id_of[*]:1:n}")
  layers=$(IFS=,; echo "${layer_of[*]:1:n}")

  printf '%s' "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Env\":[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\",\"LAYERS=$n\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[$diff_ids]}}" \
    >"$work/config.json"
  config_size=$(size_of "$work/config.json")
  config_digest=$(add_blob "$work/config.json")

  printf '%s' "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:$config_digest\",\"size\":$config_size},\"layers\":[$layers]}" \
    >"$work/manifest.json"
  manifest_size=$(size_of "$work/manifest.json")
  manifest_digest=$(add_blob "$work/manifest.json")

  annotations=""
  if ((${#sizes[@]} > 1)); then annotations=",\"annotations\":{\"org.opencontainers.image.ref.name\":\"$n\"}"; fi
  [[ -z "$manifests" ]] || manifests+=","
  manifests+="{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$manifest_digest\",\"size\":$manifest_size,\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}$annotations}"
done

printf '%s' "{\"schemaVersion\":2,\"manifests\":[$manifests]}" >"$out/index.json"
printf '%s' '{"imageLayoutVersion":"1.0.0"}' >"$out/oci-layout"
