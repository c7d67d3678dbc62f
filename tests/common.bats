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

@test "in an append-only directory atomic-swap and lockdir refuse before making a temporary, and leave none" {
  mkdir d
  ln -s old d/cur
  make_append_only d
  # Names can be added to d (chattr +a), never renamed or removed: the
  # temporary each tool makes to rename into place was left behind,
  # with a warning that it could not be removed.
  run atomic-swap -s new d/cur
  local swap_status=$status swap_output=$output
  run lockdir -n d/L
  local lock_status=$status lock_output=$output
  run lockdir d/L2 true
  local command_status=$status left
  left=$(ls -A d)
  chattr -a d
  assert_equal "$swap_status" 3
  assert_equal "$swap_output" \
    "atomic-swap: cannot create symbolic link 'd/cur': Operation not permitted"
  assert_equal "$lock_status" 3
  assert_equal "$lock_output" \
    "lockdir: cannot acquire 'd/L': Operation not permitted"
  assert_equal "$command_status" 125
  assert_equal "$left" cur
  assert_equal "$(readlink d/cur)" old
}

@test "--help names a bad duration as a usage error only in the tools that take a duration" {
  local tool
  for tool in lockdir excl-create; do
    run "$tool" --help
    assert_line "  2  usage error (bad option, missing operand, bad duration)"
  done
  for tool in atomic-swap safe-append; do
    run "$tool" --help
    assert_line "  2  usage error (bad option, missing operand)"
  done
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

# --- item 23: standard descriptors -------------------------------------------

# Lines of strace log LOG where a file other than /dev/null or /dev/full
# got descriptor 0, 1 or 2.
low_fds_taken() {
  # strace -f starts each line with the pid.
  sed -E 's/^[0-9]+ +//' "$1" >"$1.calls"
  # The dynamic loader's own opens, before main, are closed at once.
  grep -E '^(openat|open|creat|inotify_init1)\(.*\) = [012]$' "$1.calls" |
    grep -vE '"(/dev/(null|full)|/etc/ld\.so\.cache|[^"]*\.so(\.[0-9]+)*)"'
  grep -E '^pipe2?\(\[([012],|[0-9]+, [012]\])' "$1.calls"
}

@test "with 0, 1 and 2 closed no file takes their numbers (issue 11 item 23)" {
  command -v strace >/dev/null || skip "strace is not installed"
  # Without the fix, the first directory or file opened got descriptor
  # 0, so input, output or messages went to the wrong file.
  local cmd
  for cmd in 'excl-create -c x f' 'lockdir -n L' 'atomic-swap -s target link' \
             'safe-append F -c hello'; do
    strace -f -o trace -e trace=openat,open,creat,inotify_init1,pipe,pipe2 \
      $cmd <&- >&- 2>&- || true
    run low_fds_taken trace
    assert_output ""
  done
}

@test "with stdin closed, excl-create --stdin does not read a file of its own" {
  # Standard input is /dev/full opened for writing, as in coreutils: the
  # read fails, and nothing else is read in its place.
  run bash -c 'excl-create --stdin f <&-'
  assert_failure 3
  assert_output "excl-create: cannot write content for 'f': cannot read standard input: Bad file descriptor"
  [ ! -e f ]
  assert_no_temporaries excl-create
}

@test "a message that cannot be written changes no status, in every tool: a usage error into a full stderr is 2" {
  local tool
  for tool in excl-create safe-append atomic-swap; do
    run sh -c "$tool --no-such-option x y 2>/dev/full"
    assert_failure 2
  done
  run sh -c 'lockdir --no-such-option L true 2>/dev/full'
  assert_failure 125
}

@test "a usage error into a pipe nobody reads ends every tool by SIGPIPE, as it ends ls; a later message changes no status, as the manuals say" {
  # The model: GNU tools keep SIGPIPE's default until they work.
  run broken_stderr ls --bogus
  assert_output signal=13
  local tool
  for tool in excl-create safe-append atomic-swap; do
    run broken_stderr "$tool" --no-such-option x y
    assert_output signal=13
  done
  run broken_stderr lockdir --no-such-option L true
  assert_output signal=13
  # Once the command line is checked, SIGPIPE is ignored.
  mkdir a b
  run broken_stderr excl-create -c x a
  assert_output exit=1
  run broken_stderr atomic-swap -n a b
  assert_output exit=1
  run broken_stderr safe-append -c x a/no/f
  assert_output exit=3
  run broken_stderr lockdir -u L
  assert_output exit=1
  # What each manual, and lockdir --help, says.
  local page
  for page in excl-create safe-append atomic-swap lockdir; do
    grep -q 'by SIGPIPE (status 141)' "$BATS_TEST_DIRNAME/../man/$page.x" ||
      fail "man/$page.x does not say it"
  done
  lockdir --help | tr -s ' \n' ' ' |
    grep -Fq "except one before LOCK is tried for (a usage error): into a pipe nobody reads, it ends lockdir by SIGPIPE (141)"
}

# --- item 26: operands and durations -------------------------------------------

@test "'', '.', '..', '/' and names ending in '/.' or '/..' are usage errors (issue 11 item 26)" {
  mkdir dir
  local op
  for op in '' . .. / // dir/. dir/.. dir/./ ../.; do
    # Checked before anything is done: neither a nor b is created.
    run excl-create a "$op" b
    assert_usage_error excl-create
    assert_line --index 0 --regexp "^excl-create: invalid operand '$(printf '%s' "$op" | sed 's/[.]/[.]/g')': "
    [ ! -e a ] && [ ! -e b ]
  done
}

@test "a duration too long to mean anything is a usage error, not forever (issue 11 item 26)" {
  # Without the fix 99999999999999999d meant forever, silently.
  run excl-create --wait=99999999999999999d f
  assert_usage_error excl-create
  assert_line --index 0 "excl-create: duration too long for --wait: '99999999999999999d' (at most 36500d; 'inf' means forever)"
  [ ! -e f ]
  run excl-create --wait=36501d f
  assert_usage_error excl-create
  run excl-create --wait=36500d f
  assert_success
  run excl-create --help
  assert_output --partial "more than 36500d (100 years)"
}

# Assert that the last 'run' was refused as a usage error (STATUS) naming
# the operand OP.
assert_bad_operand() {
  local tool=$1 op=$2 want_status=${3:-2}
  assert_equal "$status" "$want_status"
  assert_line --index 0 --partial "$tool: invalid operand '$op': "
  assert_line "Try '$tool --help' for more information."
}

@test "safe-append: '', '.', '/' and 'dir/..' operands are usage errors (issue 11 item 26)" {
  mkdir dir
  local op
  for op in '' . / dir/..; do
    run safe-append "$op" -c hello
    assert_bad_operand safe-append "$op"
  done
  [ -z "$(ls -A dir)" ]
}

@test "lockdir: '', '.', '/' and 'dir/.' operands are usage errors, 125 with COMMAND (issue 11 item 26)" {
  mkdir dir
  local op
  for op in '' . / dir/.; do
    run lockdir -n "$op"
    assert_bad_operand lockdir "$op"
    run lockdir "$op" touch ran
    assert_bad_operand lockdir "$op" 125
    [ ! -e ran ]
  done
  [ -z "$(ls -A dir)" ]
}

@test "atomic-swap: '', '.', '/' and 'dir/..' operands are usage errors, but a TARGET may be anything (issue 11 item 26)" {
  mkdir dir
  : >a
  local op
  for op in '' . / dir/..; do
    run atomic-swap a "$op"
    assert_bad_operand atomic-swap "$op"
    run atomic-swap -n "$op" b
    assert_bad_operand atomic-swap "$op"
    run atomic-swap -s target "$op"
    assert_bad_operand atomic-swap "$op"
  done
  [ -e a ] && [ ! -e b ]
  # TARGET is only text stored in the link.
  run atomic-swap -s . link
  assert_success
  assert_equal "$(readlink link)" .
}

# --- --check-fs ------------------------------------------------------------

@test "--check-fs says 'not there yet' only of a name that is not there" {
  require_setpriv
  # x exists, in a directory nobody may search: it cannot be looked up,
  # which is not "not there yet".
  mkdir -p locked
  : >locked/x
  chmod 000 locked
  local long tool
  long=$(printf 'a%.0s' {1..256})
  for tool in atomic-swap excl-create lockdir; do
    run as_nobody "$tool" --check-fs locked/x
    assert_failure 3
    assert_output "$tool: cannot examine 'locked/x': Permission denied"
    run "$tool" --check-fs "$long"
    assert_failure 3
    assert_output "$tool: cannot examine '$long': File name too long"
  done
}

@test "--check-fs quotes a name that needs it, so that a newline cannot split the report" {
  # It printed the name as given: 'n<newline>l' made two lines, the
  # second looking like one of the report's.
  mkdir 'a b'
  local tool
  for tool in atomic-swap excl-create safe-append lockdir; do
    run "$tool" --check-fs $'n\nl'
    assert_success
    assert_line --index 0 --regexp "^'n'\\\$'\\\\n''l': [^ ]+ \\(.* filesystem, f_type 0x[0-9a-f]+\\)"
    assert_line --index 1 "  not there yet: examined its directory ."
    run "$tool" --check-fs 'a b/x'
    assert_success
    assert_line --index 0 --partial "'a b/x': "
    assert_line --index 1 "  not there yet: examined its directory 'a b'"
    # A plain name stays as it was.
    run "$tool" --check-fs plain
    assert_success
    assert_line --index 0 --regexp "^plain: "
  done
}

@test "--check-fs '' is the usage error '' is everywhere else" {
  local tool
  for tool in atomic-swap excl-create safe-append lockdir; do
    run "$tool" --check-fs -- ''
    assert_usage_error "$tool"
    assert_line --index 0 "$tool: invalid operand '': empty name"
  done
  # Checked before any report is printed.
  run excl-create --check-fs . ''
  assert_usage_error excl-create
  assert_line --index 0 "excl-create: invalid operand '': empty name"
  assert_equal "${#lines[@]}" 2
}

@test "--check-fs 'f/' of a file that is no directory cannot examine it, in every tool" {
  # No tool would take 'f/' for a file f; --check-fs must not report
  # f's filesystem as if it would.  A name not there yet still is.
  : >f
  ln -s f lf
  local tool
  for tool in atomic-swap excl-create safe-append lockdir; do
    run "$tool" --check-fs f/
    assert_failure 3
    assert_output "$tool: cannot examine 'f/': Not a directory"
    run "$tool" --check-fs lf/
    assert_failure 3
    assert_output "$tool: cannot examine 'lf/': Not a directory"
    run "$tool" --check-fs absent/
    assert_success
    assert_line --index 1 "  not there yet: examined its directory ."
  done
}

@test "--check-fs 'l/' of a dangling symbolic link cannot examine it, in every tool" {
  # l is there, and leads to no directory: every tool refuses 'l/'
  # (lockdir: Not a directory); --check-fs must not report l's
  # filesystem, status 0, as if it would take it.
  ln -s nowhere l
  local tool
  for tool in atomic-swap excl-create safe-append lockdir; do
    run "$tool" --check-fs l/
    assert_failure 3
    assert_output "$tool: cannot examine 'l/': Not a directory"
  done
  run lockdir l/ true
  assert_failure 125
  assert_output "lockdir: cannot acquire 'l/': Not a directory"
}

# --- locale ---------------------------------------------------------------

# Each category setlocale loads costs a few opens; only LC_CTYPE is used
# (quoting), and LC_TIME by safe-append --timestamp (date's formats).
# LC_CTYPE is loaded only when a name is first quoted (load_ctype_locale
# in src/common.c): a UTF-8 locale costs a tenth of a call.
@test "in a UTF-8 locale a call that quotes nothing loads no locale, one that does loads LC_CTYPE alone" {
  command -v strace >/dev/null || skip "strace is not installed"
  locale -a | grep -qix 'c\.utf-\?8' || skip "no C.UTF-8 locale"
  ln -s a cur
  local cmd
  for cmd in 'atomic-swap -s b cur' 'excl-create f' 'safe-append -c x log'
  do
    # shellcheck disable=SC2086 # CMD is split into its words on purpose
    LC_ALL=C.UTF-8 strace -f -e trace=openat -o trace $cmd ||
      fail "$cmd failed"
    run grep -E 'locale' trace
    assert_output ''
  done
  # Each quotes a name in its message (f exists, L is not held, nodir
  # is missing), or (lockdir taking L) the owner's command line in the
  # owner record.
  for cmd in 'lockdir -u L' 'atomic-swap -s b nodir/cur' 'excl-create f' \
    'safe-append -c x nodir/log' 'lockdir L true' "lockdir --owner-pid $$ L"
  do
    # shellcheck disable=SC2086 # as above
    LC_ALL=C.UTF-8 strace -f -e trace=openat -o trace $cmd 2>err ||
      grep -q "'" err || fail "$cmd quoted nothing: $(cat err)"
    grep -q '/LC_CTYPE"' trace || fail "$cmd did not load LC_CTYPE"
    run grep -E '/LC_[A-Z]+"' trace
    refute_output --partial '/LC_TIME"'
    refute_output --partial '/LC_MESSAGES"'
    refute_output --partial '/LC_NUMERIC"'
    refute_output --partial '/LC_COLLATE"'
  done
  LC_ALL=C.UTF-8 strace -f -e trace=openat -o trace safe-append -t '%b' -c x log
  grep -q '/LC_TIME"' trace || fail "safe-append -t did not load LC_TIME"
  # Its names' characters and %^B's upper case follow LC_CTYPE.
  grep -q '/LC_CTYPE"' trace || fail "safe-append -t did not load LC_CTYPE"
}

# The locale is loaded as the message is made: the name in it must
# already be quoted by it, and the errno it prints must be the one that
# failed, not one left by setlocale's look for its files.
@test "in a UTF-8 locale a name in a message is shown in that locale, with the errno that failed" {
  locale -a | grep -qix 'c\.utf-\?8' || skip "no C.UTF-8 locale"
  touch é
  LC_ALL=C.UTF-8 run excl-create é
  assert_equal "$status" 1
  assert_output "excl-create: cannot create 'é': File exists"
  LC_ALL=C run excl-create é
  assert_equal "$status" 1
  assert_output "excl-create: cannot create ''\$'\\303\\251': File exists"
  LC_ALL=C.UTF-8 run safe-append -c x nodir/é
  assert_equal "$status" 3
  assert_output "safe-append: cannot append to 'nodir/é': No such file or directory"
}

# Quoting follows LC_CTYPE, which only the wrappers in src/common.h
# load: a quoting function called outside them would quote by the C
# locale.  Print each call in FILE... of one that is not wrapped.
unwrapped_quoting() {
  grep -noE '\bquote(_[a-z_]*|arg[a-z_]*|af[a-z_]*|f)?[[:space:]]*\(' "$@" |
    grep -vE ':(quote|quote_n|quoteaf|quoteaf_n|quotef|quotearg_style|quotearg_n_style|quotearg_n_style_colon)[[:space:]]*\($' ||
    true
}

@test "src/ quotes names only through the functions that load LC_CTYPE first" {
  printf 'p = quotearg_alloc (name, len, &options);\n' >planted.c
  run unwrapped_quoting planted.c
  assert_output --partial 'quotearg_alloc'
  run unwrapped_quoting "$BATS_TEST_DIRNAME"/../src/*.c \
    "$BATS_TEST_DIRNAME"/../src/*.h
  assert_output ''
}

@test "in a UTF-8 locale an option value is still quoted with curly quotes" {
  locale -a | grep -qix 'c\.utf-\?8' || skip "no C.UTF-8 locale"
  LC_ALL=C.UTF-8 run lockdir -w bad L true
  assert_equal "$status" 125
  assert_line --index 0 --partial "‘bad’"
  # ... and so is the literal beside it, in the same style.
  assert_line --index 0 --partial "or ‘inf’)"
  LC_ALL=C.UTF-8 run excl-create -w 99999999d f
  assert_failure 2
  assert_line --index 0 --partial "; ‘inf’ means forever)"
}
