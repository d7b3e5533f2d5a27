#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs everything CI checks: dependencies, build, unit tests, integration tests,
# then the same tests again against an ASan+UBSan build (skip it with
# PL_SKIP_ASAN=1). Every stage runs even when an earlier one failed. The last
# line is "N passed, N failed" summed over all test stages; the exit status is
# non-zero when anything failed.
set -uo pipefail

cd "$(dirname "$0")/.."
repo="$(pwd)"
PY=/usr/bin/python3
# Each test stage is cut off after this many seconds (units get half). Generous: the suite
# must pass on a loaded machine (a CPU-heavy job beside it), where it runs 2-3x slower.
stage_timeout="${PL_STAGE_TIMEOUT:-2100}"

total_pass=0
total_fail=0
declare -a summary=()

note() { printf '\n==== %s ====\n' "$*"; }

record() { # STAGE PASSED FAILED
  total_pass=$((total_pass + $2))
  total_fail=$((total_fail + $3))
  summary+=("$(printf '%-28s %4d passed, %4d failed' "$1" "$2" "$3")")
}

# A stage that is not a test run (deps, build) counts as one failure when it fails.
step() { # STAGE CMD...
  local stage="$1"
  shift
  note "$stage"
  if "$@"; then
    summary+=("$(printf '%-28s ok' "$stage")")
    return 0
  fi
  echo "$stage: FAILED" >&2
  record "$stage" 0 1
  return 1
}

# meson test prints "Ok: N", "Fail: N", "Unexpected Pass: N", "Timeout: N".
unit_tests() { # STAGE BUILDDIR
  local stage="$1" builddir="$2" log rc ok fail
  note "$stage"
  log="$(mktemp)"
  if [ ! -f "$builddir/build.ninja" ]; then
    echo "$stage: $builddir is not configured" >&2
    record "$stage" 0 1
    return
  fi
  timeout "$((stage_timeout / 2))" meson test -C "$builddir" --print-errorlogs 2>&1 | tee "$log"
  rc="${PIPESTATUS[0]}"
  ok="$(sed -n 's/^Ok:[[:space:]]*\([0-9]\+\).*/\1/p' "$log" | tail -n1)"
  fail=0
  for key in 'Fail' 'Unexpected Pass' 'Timeout'; do
    n="$(sed -n "s/^$key:[[:space:]]*\([0-9]\+\).*/\1/p" "$log" | tail -n1)"
    fail=$((fail + ${n:-0}))
  done
  ok="${ok:-0}"
  if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
    fail=1 # meson itself failed (did not build, crashed, timed out)
  fi
  record "$stage" "$ok" "$fail"
  rm -f "$log"
}

# pytest's last line: "== 3 failed, 40 passed, 2 skipped, 1 error in 12.34s ==".
integration_tests() { # STAGE BUILDDIR [VAR=VALUE...]
  local stage="$1" builddir="$2" log rc line pass fail err
  note "$stage"
  log="$(mktemp)"
  PL_BUILD="$builddir" timeout "$stage_timeout" env "${@:3}" "$PY" -m pytest -c tests/integration/pytest.ini \
    -p no:cacheprovider tests/integration 2>&1 | tee "$log"
  rc="${PIPESTATUS[0]}"
  line="$(grep -E '([0-9]+ (passed|failed|errors?|skipped)|no tests ran).* in [0-9.]+s' "$log" | tail -n1)"
  pass="$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+' || true)"
  fail="$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+' || true)"
  err="$(grep -oE '[0-9]+ errors?' <<<"$line" | grep -oE '[0-9]+' || true)"
  pass="${pass:-0}"
  fail=$(( ${fail:-0} + ${err:-0} ))
  if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
    fail=1 # collection error, interrupted, timed out, no tests collected
  fi
  record "$stage" "$pass" "$fail"
  rm -f "$log"
}

# libFuzzer targets, each run for a bounded time; one test per target.
fuzz_tests() { # STAGE
  local stage="$1" log ok fail
  note "$stage"
  log="$(mktemp)"
  PL_FUZZ_SECONDS="${PL_FUZZ_SECONDS:-20}" bash tests/fuzz/run.sh build-fuzz 2>&1 | tee "$log"
  local rc="${PIPESTATUS[0]}"
  ok="$(grep -c '^fuzz .*: ok' "$log" || true)"
  fail="$(grep -c '^fuzz .*: FAILED' "$log" || true)"
  if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
    fail=1 # did not build
  fi
  record "$stage" "$ok" "$fail"
  rm -f "$log"
}

step "dependencies" bash scripts/deps.sh

# Every source file carries an SPDX identifier (scripts/spdx.sh adds the missing ones).
if [ "${PL_CHECK_SPDX:-1}" = 1 ]; then
  step "spdx identifiers" bash scripts/spdx.sh --check || true
fi

if step "build (build)" bash scripts/build.sh build; then :; fi
unit_tests "unit (build)" build
integration_tests "integration (build)" build
# The same suite against the vm mechanism: only the tests marked `mechanisms` (each a VM boot).
integration_tests "integration vm subset (build)" build PL_MECHANISM=vm \
  "PL_TEST_DEADLINE=${PL_TEST_DEADLINE:-120}"

if [ "${PL_SKIP_ASAN:-0}" != 1 ]; then
  step "build (build-asan)" bash scripts/build.sh build-asan -Db_sanitize=address,undefined -Db_lundef=false || true
  unit_tests "unit (build-asan)" build-asan
  # meson test sets its own (halting) sanitizer options for the unit tests. For
  # the integration suite the daemon keeps running after a report: conftest scans
  # its log and fails the test during which a report appeared (and plctl's stderr).
  integration_tests "integration (build-asan)" build-asan \
    "ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=1}" \
    "UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=0}"
fi

fuzz_tests "fuzz"

# The Debian packages: built from a copy of the tree, installed on this machine, checked
# (portlayerd --version, plctl version, the example against the installed pkg-config file)
# and purged again; about 1.5 minutes on 2 cores. Skip with PL_SKIP_DEBS=1.
if [ "${PL_SKIP_DEBS:-0}" != 1 ]; then
  step "debs (build, install, purge)" bash scripts/debs.sh --install-test build-deb || true
fi

note "summary"
for s in "${summary[@]}"; do
  echo "  $s"
done
echo "${total_pass} passed, ${total_fail} failed"
[ "$total_fail" -eq 0 ]
