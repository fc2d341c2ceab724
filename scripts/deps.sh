#!/usr/bin/env bash
# Installs what building and testing Shunt needs on a Debian machine, and only
# what is missing. Run as root (the tests need root anyway).
set -euo pipefail

# command-or-file to look for, then the Debian package that provides it
need=(
  "clang clang"
  "llvm-strip llvm"
  "/usr/include/libelf.h libelf-dev"
  "/usr/include/zlib.h zlib1g-dev"
  "pkg-config pkg-config"
  "make make"
  "cc build-essential"
  "ip iproute2"
  "ethtool ethtool"
  "ping iputils-ping"
  "iperf3 iperf3"
  "nc netcat-openbsd"
  "openssl openssl"
  "curl curl"
  "/usr/include/linux/if_xdp.h linux-libc-dev"
)

missing=()
for entry in "${need[@]}"; do
  what=${entry% *}
  pkg=${entry#* }
  if [[ $what == /* ]]; then
    [[ -e $what ]] || missing+=("$pkg")
  else
    command -v "$what" >/dev/null 2>&1 || missing+=("$pkg")
  fi
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "deps: missing ${missing[*]}; run as root to install them" >&2
    exit 1
  fi
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "deps: cargo not found; install the Rust toolchain (rustup) first" >&2
  exit 1
fi
