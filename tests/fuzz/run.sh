#!/usr/bin/env bash
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
clang "${flags[@]}" tests/fuzz/fuzz_config.c src/portlayer/config.c src/portlayer/policy.c src/common/json.c \
  src/portlayer/health_config.c \
  src/portlayer/userns.c src/portlayer/hostcfg.c src/portlayer/network/netconfig.c \
  src/portlayer/network/ipam.c \
  src/common/alloc.c src/common/error.c src/common/util.c -ljansson -lm -o "$out/fuzz_config"
clang "${flags[@]}" tests/fuzz/fuzz_dns.c src/portlayer/network/dns_msg.c -o "$out/fuzz_dns"
rc=0
for t in fuzz_frame fuzz_config fuzz_dns; do
  mkdir -p "$out/corpus-$t"
  dict=()
  [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  seeds=() # checked-in seeds (the create body's newer fields), where there are any
  [ -d "tests/fuzz/seeds/$t" ] && seeds=("tests/fuzz/seeds/$t")
  if "$out/$t" -max_total_time="$secs" -max_len=65536 -print_final_stats=0 "${dict[@]}" \
       "$out/corpus-$t" "${seeds[@]}" >"$out/$t.log" 2>&1; then
    echo "fuzz $t: ok ($(grep -oE '#[0-9]+' "$out/$t.log" | tail -n1 | tr -d '#') runs)"
  else
    echo "fuzz $t: FAILED"; tail -n 40 "$out/$t.log"; rc=1
  fi
done
exit $rc
