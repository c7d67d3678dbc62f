#!/usr/bin/env bats
# The layer every tool shares (src/common.c): program name, signals,
# standard descriptors, operands, durations.  Each test drives the real
# tools, since a promise of the common layer is a promise of each tool.

load test_helper

setup() {
  common_setup
}

# A name for argv[0] too long to fit in a temporary's name.
long_argv0() {
  printf 'x%.0s' {1..60}
}

# --- item 7: the fixed program name ----------------------------------------

@test "a long argv[0] does not break temporary names (issue 11 item 7)" {
  local argv0
  argv0=$(long_argv0)
  run bash -c 'exec -a "$1" excl-create -c x f' _ "$argv0"
  assert_success
  assert_equal "$(cat f)" x
  run bash -c 'exec -a "$1" lockdir -n L true' _ "$argv0"
  assert_success
  run bash -c 'exec -a "$1" atomic-swap -s target link' _ "$argv0"
  assert_success
  assert_equal "$(readlink link)" target
  assert_no_temporaries excl-create
  assert_no_temporaries lockdir
  assert_no_temporaries atomic-swap
}

@test "--version names the tool, whatever argv[0] is (issue 11 item 7)" {
  local tool
  for tool in excl-create lockdir atomic-swap safe-append; do
    run bash -c 'exec -a "$1" "$2" --version' _ "$(long_argv0)" "$tool"
    assert_success
    assert_line --index 0 "$tool (atomicutils) 0.1"
  done
}

# --- item 22: SIGXFSZ and the other fatal signals ---------------------------

@test "past the file size limit lockdir and atomic-swap report it and leave nothing (issue 11 item 22)" {
  # Without the fix SIGXFSZ kills them (status 153), leaving
  # .lockdir.*/owner.* and the --expect lock's .atomic-swap.* behind.
  run bash -c 'ulimit -f 0; lockdir -n L'
  assert_failure 3
  assert_output --partial "File too large"
  [ ! -e L ]
  assert_no_temporaries lockdir

  ln -s old link
  run bash -c 'ulimit -f 0; atomic-swap -s --expect=old new link'
  assert_failure 3
  assert_output --partial "File too large"
  assert_equal "$(readlink link)" old
  assert_no_temporaries atomic-swap
}

# The bit of signal SIG in a /proc/PID/status signal mask.
sigmask_has() {
  local mask=$1 sig=$2
  (( (16#$mask >> ($(kill -l "$sig") - 1)) & 1 ))
}

@test "a command run by lockdir gets SIGXFSZ with its default action" {
  # The tools catch SIGXFSZ with a handler, which exec resets; SIG_IGN
  # would be inherited by COMMAND.
  run lockdir L sh -c 'sed -n "s/^SigIgn:\t//p" /proc/$$/status'
  assert_success
  ! sigmask_has "$output" XFSZ
}
