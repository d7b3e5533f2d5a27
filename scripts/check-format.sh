#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fails when any C source differs from what .clang-format asks for.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files 'src/*.c' 'src/*.h' 'tests/unit/*.c' 'tests/fuzz/*.c' 2>/dev/null ||
                     find src tests/unit tests/fuzz -name '*.[ch]')
clang-format --dry-run -Werror "${files[@]}"
echo "clang-format: ${#files[@]} files clean"
