#!/usr/bin/env bats
# shellcheck: the shell code of the package -- scripts/, bench/, the
# bash completion and the CI entry point -- has nothing shellcheck
# warns about, not even a note.

load test_helper

setup() {
  common_setup
  command -v shellcheck >/dev/null || skip "shellcheck is not installed"
  SRCDIR=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
}

# The files to check: every file in scripts/ and bench/ that starts
# with a shell's #!, bench/*.sh, the completion, and .ci/run.
shell_files() {
  local f
  for f in "$SRCDIR"/scripts/* "$SRCDIR"/bench/* "$SRCDIR"/.ci/run; do
    [ -f "$f" ] || continue
    case $f in
      *.sh) echo "$f"; continue ;;
    esac
    head -n 1 "$f" | grep -Eq '^#! *(/usr)?/bin/(env +)?(ba|da)?sh' && echo "$f"
  done
  ls "$SRCDIR"/completion/*.bash
}

@test "the checker catches a planted mistake (control)" {
  printf '#!/bin/sh\nrm -rf $1/tmp\n' >bad.sh
  run shellcheck bad.sh
  assert_failure
  assert_output --partial SC2086
}

@test "scripts, bench, completion and CI are shellcheck clean" {
  local -a files
  mapfile -t files < <(shell_files)
  # Everything that must be covered is.
  printf '%s\n' "${files[@]}" | grep -q '/scripts/install-deps$'
  printf '%s\n' "${files[@]}" | grep -q '/bench/bench.sh$'
  printf '%s\n' "${files[@]}" | grep -q '/completion/atomicutils.bash$'
  cd "$SRCDIR"
  run shellcheck --format=gcc "${files[@]}"
  assert_output ""
  assert_success
}
