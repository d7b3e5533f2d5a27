#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the libFuzzer targets with clang and runs each for a bounded time (default 30 s
# each; PL_FUZZ_SECONDS overrides). Prints "fuzz <target>: ok" or fails with the crash.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${PL_FUZZ_SECONDS:-30}"
out="${1:-build-fuzz}"
mkdir -p "$out"
flags=(-std=gnu17 -D_GNU_SOURCE -DPL_VERSION='"fuzz"' -g -O1 -Isrc
       -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)
clang "${flags[@]}" tests/fuzz/fuzz_frame.c src/proto/frame.c -o "$out/fuzz_frame"
clang "${flags[@]}" tests/fuzz/fuzz_config.c src/portlayer/config.c src/portlayer/fields.c src/portlayer/policy.c src/common/json.c \
  src/portlayer/health_config.c \
  src/portlayer/userns.c src/portlayer/hostcfg.c src/portlayer/network/netconfig.c \
  src/portlayer/network/ipam.c \
  src/portlayer/logs.c src/common/alloc.c src/common/error.c src/common/util.c src/common/fs.c -ljansson -lm -o "$out/fuzz_config"
clang "${flags[@]}" tests/fuzz/fuzz_dns.c src/portlayer/network/dns_msg.c -o "$out/fuzz_dns"
clang "${flags[@]}" tests/fuzz/fuzz_extract.c src/portlayer/storage/extract.c src/common/fs.c \
  src/common/alloc.c src/common/error.c src/common/util.c src/portlayer/userns.c src/common/json.c \
  src/mechanism/domain.c src/proto/frame.c src/host/linux/proc.c src/host/linux/resolve.c \
  -larchive -lgnutls -ljansson -o "$out/fuzz_extract"
clang "${flags[@]}" -I/usr/include/p11-kit-1 tests/fuzz/fuzz_http.c src/daemon/http.c \
  src/common/loop.c src/common/log.c src/common/json.c src/common/alloc.c src/common/error.c \
  src/common/util.c -lmicrohttpd -lgnutls -ljansson -o "$out/fuzz_http"
rc=0
for t in ${PL_FUZZ_TARGETS:-fuzz_frame fuzz_config fuzz_dns fuzz_extract fuzz_http}; do
  mkdir -p "$out/corpus-$t"
  dict=()
  [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  # seeds: the checked-in corpus (tests/fuzz/corpus/T, made by make-seeds.py) and the
  # create body's newer fields (tests/fuzz/seeds/T) are read; the working corpus in $out grows
  seeds=()
  [ -d "tests/fuzz/corpus/$t" ] && seeds+=("tests/fuzz/corpus/$t")
  [ -d "tests/fuzz/seeds/$t" ] && seeds+=("tests/fuzz/seeds/$t")
  if "$out/$t" -max_total_time="$secs" -max_len=65536 -print_final_stats=0 "${dict[@]}" \
       "$out/corpus-$t" "${seeds[@]}" >"$out/$t.log" 2>&1; then
    cov=$(grep -oE 'cov: [0-9]+' "$out/$t.log" | tail -n1 | tr -dc '0-9')
    echo "fuzz $t: ok ($(grep -oE '#[0-9]+' "$out/$t.log" | tail -n1 | tr -d '#') runs, ${secs}s, cov ${cov:-?})"
  else
    echo "fuzz $t: FAILED"; tail -n 40 "$out/$t.log"; rc=1
  fi
done
exit $rc
