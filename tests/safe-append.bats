#!/usr/bin/env bats
# safe-append: append records to a shared file, each with one write(2),
# so that concurrent writers never tear or interleave a record.

load test_helper

setup() {
  common_setup
}

teardown() {
  # A test that failed half-way may leave a writer or a process whose
  # descriptor it used: bats would wait for them.
  reap_background
  local jobs
  jobs=$(jobs -p)
  if [ -n "$jobs" ]; then kill -KILL $jobs 2>/dev/null || true; fi
  unmount_test_mounts
}

# Records of LEN bytes (newline included; one more from number 10000
# on) numbered from FIRST to LAST: "record-0007 xxxx...".
records() {
  awk -v first="$1" -v last="$2" -v len="$3" 'BEGIN {
    pad = sprintf("%*s", len - 13, ""); gsub(/ /, "x", pad)
    for (i = first; i <= last; i++) printf "record-%04d %s\n", i, pad
  }'
}

# "${term_at_first_write[@]}" COMMAND...: run COMMAND with strace
# sending it SIGTERM as its first write(2) begins.  (Not a function: the
# shell's "Terminated" would go to the function's redirected stderr.)
term_at_first_write=(strace -qq -o /dev/null -e trace=write
                     -e inject=write:signal=TERM:when=1)

# cut_short_setup: the tmpfs 'small', 4 KiB, and 'in', two records of
# 3000 bytes: read together, their one write into small/ comes back
# short at 4096 bytes, record 1 whole and 1096 bytes of record 2.
cut_short_setup() {
  mkdir small
  mount -t tmpfs -o size=4k tmpfs small || skip "cannot mount tmpfs"
  records 1 2 3000 >in
}

# strace_cut_short_setup: cut_short_setup, for a test that also needs
# strace (and root, to mount).
strace_cut_short_setup() {
  require_root
  command -v strace >/dev/null || skip "strace is not installed"
  cut_short_setup
}

# The descriptor safe-append opened FILE on, from an strace log.
traced_fd() {
  grep -m1 "openat(.*\"$2\", O_WRONLY" "$1" | grep -o '[0-9]*$'
}

# --- command line --------------------------------------------------------

@test "--help prints usage on stdout and exits 0" {
  run --separate-stderr safe-append --help
  assert_success
  assert_line --index 0 "Usage: safe-append [OPTION]... FILE"
  assert_line --index 1 "  or:  safe-append [OPTION]... -c TEXT FILE"
  assert_output --partial "--timestamp=FORMAT"
  assert_output --partial "--max-record=SIZE"
  assert_output --partial "Exit status:"
  assert_output --partial "Examples:"
  [ -z "$stderr" ]
}

@test "--version prints the package version" {
  run --separate-stderr safe-append --version
  assert_success
  assert_line --index 0 "safe-append (atomicutils) 0.1"
}

@test "usage errors exit 2 with the Try line, and create nothing" {
  run safe-append
  assert_usage_error safe-append
  assert_line --partial "missing operand"

  run safe-append --no-such-option f
  assert_usage_error safe-append

  # A blank or a sign is refused, as in a DURATION.
  for size in 0 abc -1 3T 2G " 12" +12 12x " 1K" +1K; do
    run safe-append --max-record="$size" f </dev/null
    assert_usage_error safe-append
    assert_line --partial "invalid record size"
  done

  run safe-append -m 999 f </dev/null
  assert_usage_error safe-append
  assert_line --partial "invalid mode"

  run safe-append --whole -c text f
  assert_usage_error safe-append
  assert_line --partial "--whole"

  run safe-append -c one -c two f
  assert_usage_error safe-append
  assert_line --partial "given twice"

  run safe-append --timestamp= f </dev/null
  assert_usage_error safe-append
  assert_line --partial "empty timestamp format"

  run safe-append --check-fs f extra
  assert_usage_error safe-append

  [ ! -e f ]
}

# --- the documented examples -------------------------------------------------------

# The safe-append commands that --help, the README and the man page show,
# one per line (a man page example of several lines is joined with
# newlines escaped as \n), with the man page's escapes undone and a
# crontab line's schedule removed.
documented_commands() {
  local src=$BATS_TEST_DIRNAME/..
  safe-append --help | sed -n '/^Examples:/,/^$/s/^  \(.*safe-append.*\)/\1/p'
  sed -n '/^## safe-append/,/^## [^s]/p' "$src/README.md" |
    sed -n '/^```sh/,/^```$/p' | grep -v '^```'
  sed -n '/^\[EXAMPLES\]/,/^\[/p' "$src/man/safe-append.x" |
    sed -e 's/\\-/-/g' -e 's/^[*0-9\/]* [*0-9\/]* [*0-9\/]* [*0-9\/]* [*0-9\/]*  *//' |
    awk '/^\.RS/ { block = ""; inside = 1; next }
         /^\.RE/ { if (block ~ /safe-append/) print block; inside = 0; next }
         inside { block = block (block == "" ? "" : "\\n") $0 }'
}

@test "every safe-append example in --help, the README and the man page runs as printed" {
  # The programs the examples pipe from, as stubs; absolute log
  # directories are moved into the test directory.
  mkdir bin
  for c in backup.sh job.sh fetch.sh make deploy audit-events; do
    printf '#!/bin/sh\necho "%s: $*"\necho "%s: done"\n' "$c" "$c" >"bin/$c"
    chmod +x "bin/$c"
  done
  mkdir -p var/log srv/app
  : >listed-file
  export PATH=$PWD/bin:$PATH REV=v1.2 HOST=web1 USER=${USER:-root}
  run documented_commands
  assert_success
  mapfile -t commands <<<"$output"
  ((${#commands[@]} >= 9)) || fail "only ${#commands[@]} examples found: $output"
  local cmd target
  for cmd in "${commands[@]}"; do
    cmd=$(printf '%b' "$cmd" | sed "s|/var/log/|$PWD/var/log/|g; s|/srv/app/|$PWD/srv/app/|g")
    target=$(grep -o 'safe-append [^&|#;]*' <<<"$cmd" | head -n 1 | awk '{ print $NF }')
    run bash -o pipefail -c "$cmd"
    assert_success
    [ -s "$target" ] || fail "'$cmd' appended nothing to $target"
  done
  assert_equal "$(stat -c %a var/log/audit-trail)" 600
  grep -q '^web2 deploy: web2$' deploy.log
}

@test "the man page's logrotate stanza, as printed, moves a streaming safe-append to the new log" {
  require_root
  command -v logrotate >/dev/null || skip "logrotate is not installed"
  command -v unshare >/dev/null || skip "unshare is not installed"
  getent group adm >/dev/null || skip "no group 'adm'"
  mkdir -p var/log
  sed -n '/^\/var\/log\/jobs.log {$/,/^}$/p' "$BATS_TEST_DIRNAME/../man/safe-append.x" |
    sed -e 's/\\-/-/g' -e "s|^/var/log/|$PWD/var/log/|" >rotate.conf
  grep -q 'pkill -HUP -x safe-append' rotate.conf || fail "$(cat rotate.conf)"
  # In a PID namespace of its own, pkill signals this safe-append only.
  run unshare --pid --fork --mount-proc bash -c '
    mkfifo in
    safe-append var/log/jobs.log <in &
    pid=$!
    exec {w}>in
    echo one >&$w
    until grep -qx one var/log/jobs.log 2>/dev/null; do sleep 0.01; done
    logrotate -f -s state rotate.conf || exit 1
    echo two >&$w
    until grep -qx two var/log/jobs.log 2>/dev/null; do sleep 0.01; done
    exec {w}>&-
    wait "$pid"'
  assert_success
  assert_equal "$(cat var/log/jobs.log.1)" one
  assert_equal "$(cat var/log/jobs.log)" two
  assert_equal "$(stat -c '%a %G' var/log/jobs.log)" "640 adm"
}

# --- the single-record form ---------------------------------------------------

@test "-c TEXT: TEXT and a newline, one write" {
  command -v strace >/dev/null || skip "strace is not installed"
  run strace -e trace=write -o trace safe-append f -c "hello big  world !"
  assert_success
  assert_output ""
  assert_equal "$(od -An -c -w64 f | tr -s ' ')" " h e l l o b i g w o r l d ! \n"
  assert_equal "$(grep -c '^write(' trace)" 1
  safe-append f -c second
  assert_equal "$(cat f)" $'hello big  world !\nsecond'
}

@test "-c TEXT with -z ends the record with NUL; a TEXT with newlines is one record" {
  safe-append -z f -c 'one two'
  assert_equal "$(od -An -c f | tr -s ' ')" " o n e t w o \\0"
  safe-append --prefix=P g -c $'one\ntwo'
  assert_equal "$(cat g)" $'P one\ntwo'
}

@test "FILE is the only operand: 'FILE EXTRA' is refused, and standard input is not dropped" {
  run safe-append f extra <<<"waiting on stdin"
  assert_usage_error safe-append
  assert_line --partial "extra operand 'extra' (a record is given with -c TEXT; without -c, records come from standard input)"
  [ ! -e f ]
  # A tee habit: two files.
  run safe-append a.log b.log <<<"line"
  assert_usage_error safe-append
  [ ! -e a.log ] && [ ! -e b.log ]
  # With -c, standard input is not read, whatever waits there.
  safe-append f -c record <<<"not read"
  assert_equal "$(cat f)" record
}

@test "a new FILE gets mode a=rw minus umask; -m sets it exactly" {
  umask 022
  safe-append f -c x
  assert_equal "$(stat -c %a f)" 644
  umask 077
  safe-append -m 640 g -c x
  assert_equal "$(stat -c %a g)" 640
  # An existing file keeps its mode.
  safe-append -m 600 f -c y
  assert_equal "$(stat -c %a f)" 644
}

@test "-m: a symbolic MODE applies to a=rw, the umask not subtracted, as --help says" {
  run safe-append --help
  assert_output --partial "MODE as in chmod,"
  assert_output --partial "applied to a=rw (-m go-w gives 0644, -m a+x"
  umask 077
  safe-append -m go-w f -c x
  assert_equal "$(stat -c %a f)" 644
  safe-append -m a+x g -c x
  assert_equal "$(stat -c %a g)" 777
}

# --- reading standard input ---------------------------------------------

@test "lines from standard input are appended; a last partial line is completed" {
  echo old >f
  printf 'one\ntwo\nthree' | safe-append f
  assert_equal "$(cat f)" $'old\none\ntwo\nthree'
  assert_equal "$(tail -c1 f | od -An -c | tr -d ' ')" '\n'
}

@test "empty input appends nothing but creates FILE" {
  safe-append f </dev/null
  [ -f f ] && [ ! -s f ]
}

@test "standard input that is a directory: status 3, and FILE is not created" {
  run safe-append f </
  assert_failure 3
  assert_output "safe-append: cannot append to 'f': cannot read standard input: Is a directory"
  [ ! -e f ] || fail "f was created"
  echo old >g
  run safe-append g </
  assert_failure 3
  assert_equal "$(cat g)" old
}

@test "a closed standard input: status 3, and FILE is not created" {
  run bash -c 'safe-append f <&-'
  assert_failure 3
  [ ! -e f ] || fail "f was created; output: $output"
  assert_output "safe-append: cannot append to 'f': cannot read standard input: Bad file descriptor"
  # An existing FILE is left as it was.
  echo old >g
  run bash -c 'safe-append g <&-'
  assert_failure 3
  assert_equal "$(cat g)" old
  # -c TEXT reads no standard input: it works with it closed.
  run bash -c 'safe-append -c text h <&-'
  assert_success
  assert_equal "$(cat h)" text
}

@test "a read error after some records: the records before it are in FILE, and the message names the next one" {
  command -v strace >/dev/null || skip "strace is not installed"
  printf 'a\nb\npart' >in
  # Which read(2) is the second from standard input (the first brings
  # all of it): make that one fail with EIO.
  : >dry-log
  strace -o dry -e trace=read safe-append dry-log <in
  local n
  n=$(awk '/^read\(0,/ { print n + 2; exit } /^read\(/ { n++ }' dry)
  run strace -qq -o /dev/null -e trace=read \
    -e inject=read:error=EIO:when="$n" safe-append f <in
  assert_failure 3
  assert_output "safe-append: cannot append record 3 to 'f': error reading standard input: Input/output error"
  assert_equal "$(cat f)" $'a\nb'
}

@test "-z: records end with NUL, and a last one is completed with NUL" {
  printf 'a\nb\0c d\0e' | safe-append -z f
  assert_equal "$(od -An -c f | tr -s ' ')" " a \\n b \\0 c d \\0 e \\0"
}

@test "--whole: all of standard input is one record, in one write" {
  command -v strace >/dev/null || skip "strace is not installed"
  records 1 3000 100 >in
  run strace -e trace=write -o trace safe-append --whole f <in
  assert_success
  cmp in f
  assert_equal "$(grep -c '^write(' trace)" 1
  # No newline is added to input that ends with one; one is added
  # otherwise.
  printf 'x\ny' | safe-append --whole g
  assert_equal "$(od -An -c g | tr -s ' ')" " x \\n y \\n"
}

@test "--whole with prefixes: one prefix for the whole record" {
  printf 'first\nsecond\n' | safe-append --whole --prefix=R f
  assert_equal "$(cat f)" $'R first\nsecond'
}

@test "--whole on empty input appends no record; -c '' appends an empty one, as --help says" {
  safe-append --whole f </dev/null
  [ -f f ] && [ ! -s f ]
  safe-append -c '' g
  assert_equal "$(od -An -c g | tr -d ' ')" '\n'
  run safe-append --help
  assert_line "      --whole           all of standard input is one record (none if it"
  assert_line "                          is empty; -c '' appends an empty record)"
}

@test "each write holds whole records only, never part of one" {
  command -v strace >/dev/null || skip "strace is not installed"
  # Lines of varied length, fed through a pipe in 4093-byte pieces so
  # that reads end in the middle of lines.
  awk 'BEGIN { for (i = 0; i < 10000; i++) {
    s = sprintf("%*s", i % 300, ""); gsub(/ /, "y", s); print "line " i " " s } }' >in
  dd if=in bs=4093 status=none |
    strace -e trace=openat,write -o trace safe-append f
  cmp in f
  # Every write(2) to f ends where a line ends.
  fd=$(traced_fd trace f)
  [ -n "$fd" ]
  grep "^write($fd," trace | awk '{ s += $NF; print s }' >ends
  (( $(wc -l <ends) > 5 ))
  od -An -v -tu1 -w1 f |
    awk 'NR == FNR { end[$1] = 1; next } (FNR in end) && $1 != 10 { bad++ }
         END { exit bad > 0 }' ends - ||
    fail "a write ended inside a line"
}

@test "streaming: a slow producer's line is in FILE before it finishes" {
  mkfifo in
  safe-append f <in &
  pid=$!
  exec {w}>in
  echo "first line" >&$w
  wait_until grep -q '^first line$' f
  printf 'second line' >&$w
  exec {w}>&-
  wait "$pid"
  assert_equal "$(cat f)" $'first line\nsecond line'
}

@test "standard input that is FILE itself is refused" {
  echo data >f
  run safe-append f <f
  assert_failure 3
  assert_output --partial "input file is output file"
  assert_equal "$(cat f)" data
}

@test "standard input that is FILE's FIFO or pipe is refused, not fed forever" {
  mkfifo fifo
  exec {both}<>fifo
  echo data >&$both
  run timeout 10 safe-append fifo <&$both
  exec {both}>&-
  assert_failure 3
  assert_output --partial "input file is output file"
  run timeout 10 bash -c 'echo data | safe-append /dev/stdin'
  assert_failure 3
  assert_output --partial "input file is output file"
}

@test "--tee with standard output FILE itself is refused: its records stay as written" {
  # '>f' would write the copy over f's records at offset 0; '>>f' would
  # append every record twice.
  for redirect in '>f' '>>f' '1<>f'; do
    echo data >f
    run bash -c "echo new | safe-append --tee f $redirect"
    assert_failure 3
    assert_output "safe-append: f: standard output is FILE itself: --tee would write its records into it again"
    assert_equal "$(cat f)" "$([ "$redirect" = '>f' ] || echo data)"
  done
  run bash -c 'echo new | safe-append --tee -c text f >>f'
  assert_failure 3
  assert_equal "$(cat f)" data
  mkfifo fifo
  exec {both}<>fifo
  run timeout 10 bash -c "safe-append --tee -c text fifo >&$both"
  exec {both}>&-
  assert_failure 3
  assert_output --partial "standard output is FILE itself"
  # Without --tee, standard output is not used: no refusal.
  echo data >f
  echo new | safe-append f >>f
  assert_equal "$(cat f)" $'data\nnew'
}

# --- prefixes ---------------------------------------------------------------

@test "-t rfc3339: RFC 3339 with microseconds, then the record" {
  printf 'one\ntwo\n' | TZ=UTC safe-append -t rfc3339 f
  assert_equal "$(wc -l <f)" 2
  run cat f
  ts='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}\+00:00'
  assert_line --index 0 --regexp "^$ts one\$"
  assert_line --index 1 --regexp "^$ts two\$"

  TZ=Asia/Kolkata safe-append --timestamp=rfc3339 g -c text
  assert_equal "$(grep -cE '^[0-9-]{10}T[0-9:]{8}\.[0-9]{6}\+05:30 text$' g)" 1
}

@test "-t takes FORMAT as a required argument: -t '%H:%M' log appends to log" {
  printf 'one\n' | TZ=UTC safe-append -t '%H:%M' log
  run cat log
  assert_output --regexp '^[0-2][0-9]:[0-5][0-9] one$'
  [ ! -e '%H:%M' ]
  printf 'two\n' | TZ=UTC safe-append -t'%s' log
  assert_equal "$(grep -cE '^[0-9]{10} two$' log)" 1
}

@test "-t FORMAT without a % conversion is refused: a misplaced operand or option" {
  run safe-append -t log text
  assert_usage_error safe-append
  assert_line --partial "timestamp format 'log' has no % conversion (-t rfc3339 gives the default format)"
  run safe-append -t --prefix=job log </dev/null
  assert_usage_error safe-append
  assert_line --partial "'--prefix=job'"
  run safe-append --timestamp log </dev/null
  assert_usage_error safe-append
  [ ! -e log ] && [ ! -e text ]
}

@test "-t FORMAT whose % is no conversion ('%', '100%', '%Q', '%%Y') is refused" {
  # nstrftime copies what is not a conversion and makes "%%" "%": every
  # record would get the same text, as with no % at all.
  local format
  for format in '%' '100%' '%Q' '%%Y'; do
    run safe-append -t "$format" -c text log
    assert_usage_error safe-append
    assert_line --partial "timestamp format '$format' has no % conversion (-t rfc3339 gives the default format)"
  done
  [ ! -e log ]
  # Real conversions still pass, beside a '%%' or text.
  for format in rfc3339 '%s' '%F %T' '%H:%M' '%Z' '100%% %s'; do
    TZ=UTC safe-append -t "$format" -c text log
  done
  assert_equal "$(wc -l <log)" 6
  run safe-append -t '%n' -c text log
  assert_usage_error safe-append
  assert_line --partial "timestamp format '%n' gives a newline"
}

@test "--help says that a -t FORMAT without a % conversion is refused" {
  run safe-append -t 'log' -c text out
  assert_usage_error safe-append
  run safe-append --help
  assert_success
  # The lines of -t's paragraph, joined: the rule may wrap anywhere.
  local text
  text=$(printf '%s\n' "$output" | sed -n '/--timestamp=/,/--prefix=/p' \
    | tr -s ' \n' '  ')
  [[ $text == *"FORMAT with no % conversion"*"is refused"* ]]
}

@test "-t FORMAT that gives no text is refused: records would start with a lone space" {
  # '<>0' is UTC with an empty zone abbreviation: %Z gives nothing.
  run env TZ='<>0' safe-append -t %Z f -c text
  assert_usage_error safe-append
  assert_line --partial "timestamp format '%Z' gives no text"
  run env TZ='<>0' safe-append -t '%Z%Z' f </dev/null
  assert_usage_error safe-append
  [ ! -e f ]
}

@test "-t at a time localtime cannot represent: an error at the start, naming the cause" {
  local shim
  shim=$(command -v fault-shim.so) \
    || skip "tests/fault-shim.so is not built (make check builds it)"
  # A clock past the years struct tm can hold: localtime gives EOVERFLOW.
  run env TZ=UTC LD_PRELOAD="$shim" FAULT_REALTIME=9223372036854775807 \
    safe-append -t %s f -c text
  assert_failure 3
  assert_output "safe-append: cannot make a time stamp with format '%s': \
Value too large for defined data type"
  [ ! -e f ]
}

@test "-t FORMAT longer than 1023 bytes at a later time only: the record it fails names its number" {
  local shim format
  shim=$(command -v fault-shim.so) \
    || skip "tests/fault-shim.so is not built (make check builds it)"
  # 150 weekday names: 900 bytes on a Monday (2024-01-01), 1200 on a
  # Thursday (2024-01-04).  The check at the start reads the first time.
  format=$(printf '%%A%.0s' {1..150})
  mkfifo in
  TZ=UTC LD_PRELOAD="$shim" FAULT_REALTIME=1704067200:1704067200:1704326400 \
    safe-append -t "$format" f <in 2>err &
  pid=$!
  exec {w}>in
  printf 'a\nb\n' >&$w
  # Counted again on each try (an argument would be counted once).
  wait_until sh -c '[ -e f ] && [ "$(wc -l <f)" -eq 2 ]'
  echo c >&$w
  exec {w}>&-
  status=0
  wait "$pid" || status=$?
  assert_equal "$status" 3
  assert_equal "$(cat err)" "safe-append: cannot append record 3 to 'f': \
its time stamp would be longer than 1023 bytes; nothing of it was written"
  assert_equal "$(cut -c 1-6 f)" $'Monday\nMonday'
}

@test "--timestamp=FORMAT and --prefix: time, tag, record" {
  printf 'a\nb\n' | TZ=UTC safe-append --timestamp='%s.%N' --prefix=job f
  run cat f
  assert_line --index 0 --regexp '^[0-9]{10}\.[0-9]{9} job a$'
  assert_line --index 1 --regexp '^[0-9]{10}\.[0-9]{9} job b$'
  # The time is when the record was read: close to now.
  stamp=$(head -c 10 f)
  (( stamp > $(date +%s) - 60 && stamp <= $(date +%s) ))
}

@test "a --prefix or --timestamp format that holds a newline is refused" {
  run safe-append --prefix=$'two\nlines' f -c text
  assert_usage_error safe-append
  assert_line --partial "--prefix must not contain a newline"
  run safe-append --timestamp='%s%n' f -c text
  assert_usage_error safe-append
  assert_line --partial "gives a newline"
  run safe-append --timestamp=$'%s\n' f </dev/null
  assert_usage_error safe-append
  [ ! -e f ]
  # With -z a record ends with NUL: a newline inside it splits nothing.
  safe-append -z --prefix=$'two\nlines' f -c text
  assert_equal "$(od -An -c f | tr -s ' ')" " t w o \\n l i n e s t e x t \\0"
}

@test "--prefix alone, and prefixes with -c" {
  printf 'x\ny' | safe-append --prefix='[cron]' f
  safe-append --prefix=deploy f -c 'v1.2 done'
  assert_equal "$(cat f)" $'[cron] x\n[cron] y\ndeploy v1.2 done'
}

@test "--prefix='' adds nothing: no lone space before a record" {
  printf 'x\ny\n' | safe-append --prefix= f
  safe-append --prefix='' -c text f
  assert_equal "$(cat f)" $'x\ny\ntext'
  # After a time stamp, only the stamp and its space.
  TZ=UTC safe-append -t '[%Z]' --prefix= -c text g
  assert_equal "$(cat g)" "[UTC] text"
}

@test "prefixed records still go whole, several to a write" {
  command -v strace >/dev/null || skip "strace is not installed"
  records 1 20000 50 >in
  strace -e trace=write -o trace safe-append --prefix=P -t rfc3339 f <in
  assert_equal "$(wc -l <f)" 20000
  run sed -E 's/^[^ ]+ P //' f
  diff <(echo "$output") in
  # Far fewer writes than records.
  (( $(grep -c '^write(' trace) < 100 ))
}

# --- record size limits -------------------------------------------------------

@test "--max-record: a longer record fails with its number, nothing of it written" {
  { records 1 3 100; records 4 4 300; records 5 6 100; } >in
  run safe-append --max-record=200 f <in
  assert_failure 3
  assert_output "safe-append: cannot append record 4 to 'f': it is longer than 200 bytes (--max-record); nothing of it was written"
  diff f <(records 1 3 100)

  # A record of exactly the maximum is fine; prefixes count.
  records 1 1 100 >one
  safe-append --max-record=100 g <one
  run safe-append --max-record=100 --prefix=p g <one
  assert_failure 3
  assert_output --partial "record 1"
  diff g one
}

@test "--max-record: --help gives the real maximum, which is taken; 2G and one byte more are refused with it" {
  run safe-append --help
  assert_success
  [[ $(tr -s ' \n' '  ' <<<"$output") == *"(default 1M, at most 2147479552, the most one write(2) takes)"* ]] ||
    fail "--help gives no maximum: $output"
  for size in 1G 2147479552; do
    run safe-append --max-record="$size" f -c x
    assert_success
  done
  for size in 2G 2147479553; do
    run safe-append --max-record="$size" f -c x
    assert_usage_error safe-append
    assert_line --index 0 "safe-append: invalid record size '$size' (use 1 to 2147479552 bytes, with an optional suffix K, M or G)"
  done
  assert_equal "$(cat f)" $'x\nx'
}

@test "--max-record with K suffix; a long partial record is refused before its end" {
  records 1 2 100 >in
  head -c 5000 /dev/zero | tr '\0' z >>in
  run safe-append --max-record=4K f <in
  assert_failure 3
  assert_output --partial "record 3"
  assert_output --partial "longer than 4096 bytes"
  diff f <(records 1 2 100)
}

@test "--max-record smaller than a read: every record up to the maximum passes, the first longer one is named" {
  # 20000 lines of 1 to 64 bytes, many exactly 64, then one of 65: the
  # stride check looks at windows of 64 bytes and must neither refuse a
  # record of exactly 64 nor miss the first of 65.
  awk 'BEGIN { srand(7); for (i = 1; i <= 20000; i++) {
    n = (i % 3 == 0) ? 64 : 1 + int(rand() * 64)
    s = sprintf("%*s", n - 1, ""); gsub(/ /, "y", s); print s } }' >in
  safe-append --max-record=64 f <in
  cmp f in
  { cat in; printf '%064d\n' 0; cat in; } >in2
  run safe-append --max-record=64 g <in2
  assert_failure 3
  assert_output "safe-append: cannot append record 20001 to 'g': it is longer than 64 bytes (--max-record); nothing of it was written"
  cmp g in
}

@test "the vector record counter is compiled by clang too (its version test)" {
  command -v cpp >/dev/null || skip "cpp is not installed"
  test=$(grep -m1 '^#if.*__GNUC_MINOR__' "$BATS_TEST_DIRNAME/../src/safe-append.c")
  [ -n "$test" ]
  compiled_by() {
    printf '%s\nvector\n#else\nscalar\n#endif\n' "$test" | cpp -P -undef "$@"
  }
  # clang says it is GCC 4.2.
  assert_equal "$(compiled_by -D__clang__=1 -D__GNUC__=4 -D__GNUC_MINOR__=2)" vector
  assert_equal "$(compiled_by -D__GNUC__=12 -D__GNUC_MINOR__=2)" vector
  assert_equal "$(compiled_by -D__GNUC__=4 -D__GNUC_MINOR__=7)" vector
  assert_equal "$(compiled_by -D__GNUC__=4 -D__GNUC_MINOR__=6)" scalar
  assert_equal "$(compiled_by)" scalar
}

@test "the default maximum is 1 MiB; larger records are fine when allowed" {
  head -c $((1024 * 1024 - 1)) /dev/zero | tr '\0' a >max
  echo >>max
  safe-append f <max
  cmp f max
  { head -c $((1024 * 1024)) /dev/zero | tr '\0' a; echo; } >over
  run safe-append g <over
  assert_failure 3
  assert_output --partial "record 1"
  [ ! -s g ]
  safe-append --max-record=2M h <over
  cmp h over
}

@test "--whole larger than --max-record: nothing written" {
  records 1 100 100 >in
  run safe-append --whole --max-record=5000 f <in
  assert_failure 3
  assert_output --partial "record 1"
  [ ! -s f ]
}

@test "FIFO target: records up to PIPE_BUF, and no write larger than PIPE_BUF" {
  command -v strace >/dev/null || skip "strace is not installed"
  mkfifo fifo
  cat fifo >got &
  reader=$!
  exec {keep}>fifo
  records 1 500 100 >in
  head -c 4095 /dev/zero | tr '\0' q >>in
  echo >>in
  strace -e trace=openat,write -o trace safe-append fifo <in
  fd=$(traced_fd trace fifo)
  [ -n "$fd" ]
  writes=$(grep "^write($fd," trace | awk '{ print $NF }')
  for n in $writes; do (( n <= 4096 )) || fail "a write of $n bytes to a FIFO"; done

  # One byte more than PIPE_BUF is refused, with the records before it
  # delivered.
  { records 501 502 100; head -c 4096 /dev/zero | tr '\0' r; echo; } >in2
  run safe-append fifo <in2
  exec {keep}>&-
  wait "$reader"
  assert_failure 3
  assert_output --partial "record 3"
  assert_output --partial "PIPE_BUF"
  diff got <(cat in; records 501 502 100)
}

# --- --tee ---------------------------------------------------------------------

@test "--tee: standard output gets exactly what FILE gets" {
  echo before >f
  records 1 5000 77 | safe-append --tee --prefix=T f >out
  assert_equal "$(tail -n +2 f | cksum)" "$(cksum <out)"
  assert_equal "$(wc -l <out)" 5000
}

@test "--tee: a closed standard output stops the copy, not the appending (like tee -p)" {
  records 1 200000 100 >in
  run --separate-stderr bash -c 'safe-append --tee f <in | head -n 1; echo "status ${PIPESTATUS[0]}"'
  assert_line --index 0 "$(head -n 1 in)"
  assert_line --index 1 "status 0"
  [[ $stderr =~ ^"safe-append: standard output was closed; records from "[0-9]+" on were appended to 'f' only"$ ]] ||
    fail "stderr: $stderr"
  cmp f in
  # -q: no note.
  run --separate-stderr bash -c 'safe-append -q --tee g <in | head -n 1 >/dev/null; echo "status ${PIPESTATUS[0]}"'
  assert_output "status 0"
  assert_equal "$stderr" ""
  cmp g in
}

@test "--tee: any other error on standard output is reported at once, status 3, FILE still gets every record" {
  records 1 1000 100 >in
  run bash -c 'safe-append --tee f <in >/dev/full'
  assert_failure 3
  assert_output "safe-append: cannot copy record 1 to standard output; appending to 'f' only from now on: No space left on device"
  cmp f in
}

@test "--tee -c: a failed copy says the record was appended to FILE, not 'from now on'; status 3" {
  run bash -c 'safe-append --tee -c text f >/dev/full'
  assert_failure 3
  assert_output "safe-append: cannot copy record 1 to standard output; it was appended to 'f': No space left on device"
  assert_equal "$(cat f)" text
  # A pipe with no reader: the note names the one record; status 0.
  mkfifo p
  exec {rw}<>p
  exec {w}>p
  exec {rw}>&-
  run bash -c "safe-append --tee -c text g >&$w"
  exec {w}>&-
  assert_success
  assert_output "safe-append: standard output was closed; record 1 was appended to 'g' only"
  assert_equal "$(cat g)" text
}

@test "--tee to a closed pipe, then a record that fails: the note names only the records appended" {
  printf 'a\nb\nlong-record\nc\n' >in
  run --separate-stderr with_closed_pipe safe-append --tee --max-record=5 f <in
  assert_failure 3
  assert_output ""
  assert_equal "$stderr" "safe-append: cannot append record 3 to 'f': it is longer than 5 bytes (--max-record); nothing of it was written
safe-append: standard output was closed; records 1 to 2 were appended to 'f' only"
  assert_equal "$(cat f)" "$(printf 'a\nb')"
  # One record appended before the failure: that one is named.
  printf 'a\nlong-record\n' >in
  run --separate-stderr with_closed_pipe safe-append --tee --max-record=5 g <in
  assert_failure 3
  assert_equal "$stderr" "safe-append: cannot append record 2 to 'g': it is longer than 5 bytes (--max-record); nothing of it was written
safe-append: standard output was closed; record 1 was appended to 'g' only"
  assert_equal "$(cat g)" a
}

# --- closed standard descriptors ----------------------------------------------

@test "--tee: a pipe closed before the last record only: the note names that record, not 'from N on'" {
  mkfifo in out
  safe-append --tee f <in >out 2>err &
  pid=$!
  exec {w}>in
  exec {r}<out
  echo one >&$w
  read -r -u "$r" line
  assert_equal "$line" one
  # The reader goes away; then the last record comes.
  exec {r}<&-
  echo two >&$w
  exec {w}>&-
  status=0
  wait "$pid" || status=$?
  assert_equal "$status" 0
  assert_equal "$(cat err)" "safe-append: standard output was closed; record 2 was appended to 'f' only"
  assert_equal "$(cat f)" $'one\ntwo'
}

@test "closed stdin and stdout: --tee never copies into FILE, which gets the record once" {
  run bash -c 'safe-append --tee f -c hello <&- >&-'
  # The copy to a closed standard output fails (it is /dev/null opened
  # for reading); the record is in FILE, once.
  assert_failure 3
  assert_output --partial "cannot copy record 1 to standard output"
  assert_equal "$(cat f)" hello
}

@test "closed stdin and stderr: an error message never goes into FILE" {
  run bash -c 'safe-append --max-record=3 f -c hello <&- 2>&-'
  assert_failure 3
  [ -f f ] && [ ! -s f ] || fail "f holds: $(cat f)"
  # The streaming form too.
  run bash -c 'echo hello | safe-append --max-record=3 g 2>&-'
  assert_failure 3
  [ -f g ] && [ ! -s g ] || fail "g holds: $(cat g)"
}

# --- opening FILE ---------------------------------------------------------------

@test "FILE with a trailing slash is a directory: refused, nothing created" {
  run safe-append new/ -c t
  assert_failure 3
  assert_output "safe-append: cannot append to 'new/': a name ending in '/' is a directory, not a file"
  [ ! -e new ]
  run safe-append new// <<<"from stdin"
  assert_failure 3
  [ ! -e new ]
  echo keep >f
  run safe-append f/ -c t
  assert_failure 3
  assert_equal "$(cat f)" keep
  mkdir d
  run safe-append d/ -c t
  assert_failure 3
  assert_equal "$(ls -A d)" ""
}

@test "--no-create: an absent FILE is status 3 and stays absent" {
  run safe-append --no-create f -c text
  assert_failure 3
  assert_output --partial "cannot append to 'f': No such file or directory"
  [ ! -e f ]
  : >g
  safe-append --no-create g -c text
  assert_equal "$(cat g)" text
}

@test "FILE must be a regular file or a FIFO" {
  mkdir d
  run safe-append d -c text
  assert_failure 3
  run safe-append /dev/null -c text
  assert_failure 3
  assert_output --partial "not a regular file or a FIFO"
}

@test "/dev/stdout or /dev/stderr that is a pipe: records go into the pipe" {
  # /dev/stdout leads to /proc/self/fd/1, a link whose text, as
  # 'pipe:[1234]', names no file: the kernel follows it to the pipe.
  run bash -c 'printf "a\nb\n" | safe-append /dev/stdout | cat >got
               exit ${PIPESTATUS[1]}'
  assert_success
  assert_equal "$(cat got)" $'a\nb'
  run bash -c 'safe-append -c c /dev/stderr 2>&1 >/dev/null | cat'
  assert_success
  assert_output c
}

# Append "one", then "two" to FILE with safe-append, where "one" shows
# in SEEN; between them run COMMAND..., then send the SIGHUP of a
# rotation.  The status in $status, the errors in ./err.
append_around() {
  local file=$1 seen=$2 pid w
  shift 2
  mkfifo in
  safe-append "$file" <in 2>err &
  pid=$!
  exec {w}>in
  echo one >&$w
  wait_until grep -qx one "$seen"
  "$@"
  # safe-append may have looked already (once a second), and ended:
  # then the write finds no reader, and SIGPIPE would kill this shell.
  kill -HUP "$pid" 2>/dev/null || true
  (trap '' PIPE; echo two >&$w) 2>/dev/null || true
  exec {w}>&-
  status=0
  wait "$pid" || status=$?
  rm in
}

# Kill process PID and wait until it is dead.
end_process() {
  kill "$1"
  wait_until is_dead "$1"
}

# append_around FILE (default /proc/OTHER/fd/1), SEEN, killing OTHER.
append_past_exit() {
  append_around "${3:-/proc/$1/fd/1}" "$2" end_process "$1"
}

@test "/proc/PID/fd/N that is another process's pipe: records go into the pipe, also after that process is gone" {
  sh -c 'echo $$ >pid; exec sleep 1000' | cat >got &
  wait_until test -s pid
  append_past_exit "$(cat pid)" got
  wait
  assert_equal "$(cat err)" ""
  assert_equal "$status" 0
  assert_equal "$(cat got)" $'one\ntwo'
}

@test "man page: /dev/stdout that is a socket (a journal stream) is refused, not a regular file or a FIFO" {
  # perl-base has socketpair: standard output becomes one end.
  run perl -MSocket -e '
    socketpair(my $a, my $b, AF_UNIX, SOCK_STREAM, 0) or die "socketpair: $!";
    open(STDOUT, ">&", $a) or die "dup: $!";
    exec "safe-append", "-c", "x", "/dev/stdout" or die "exec: $!"'
  assert_failure 3
  assert_output "safe-append: cannot append to '/dev/stdout': not a regular file or a FIFO"
}

@test "/dev/stdout that is a deleted file: records go into it, nothing is created" {
  # Its link's text is 'DIR/gone (deleted)', which names no such file.
  run bash -c 'exec 3>gone 4<gone; rm gone
               safe-append -c x /dev/stdout >&3 || exit; cat <&4'
  assert_success
  assert_output x
  [ ! -e 'gone (deleted)' ]
}

@test "--check-fs /dev/stdout that is a deleted file judges the file's filesystem, not /proc's" {
  # Appending opens the link in /proc as the kernel follows it, and
  # judges the file it leads to: --check-fs must judge the same.
  local here
  here=$(safe-append --check-fs other | sed -n '1s/^other: //p')
  run bash -c 'exec 3>gone 4<gone; rm gone
               safe-append --check-fs /dev/stdout >&3 || exit; cat <&4'
  assert_success
  assert_line --index 0 "/dev/stdout: a symbolic link: examined /proc/self/fd/1, where records would go"
  assert_line --index 1 "/proc/self/fd/1: $here"
  refute_output --partial "proc (local filesystem, f_type 0x9fa0)"
}

@test "--check-fs refuses the options appending refuses, before any report" {
  # --whole with -c, a prefix holding a newline or a timestamp format
  # that gives no text are usage errors of appending: --check-fs must
  # not examine FILE and say "safe" of a command line that never runs.
  touch f
  run safe-append --whole -c x --check-fs f
  assert_usage_error safe-append
  assert_line --index 0 "safe-append: --whole reads standard input; it cannot go with -c/--content"
  assert_equal "${#lines[@]}" 2
  run safe-append --prefix $'a\nb' --check-fs f
  assert_usage_error safe-append
  assert_line --index 0 --partial "--prefix must not contain a newline"
  assert_equal "${#lines[@]}" 2
  run safe-append -t '' --check-fs f
  assert_usage_error safe-append
  assert_equal "${#lines[@]}" 2
  # What the form takes is examined as before.
  run safe-append -t rfc3339 --prefix=job --check-fs f
  assert_success
  assert_line --index 0 --regexp "^f: "
}

@test "--check-fs on a pipe or a FIFO says what holds for it, not a filesystem's verdicts" {
  # Appending to a pipe checks no filesystem: records up to PIPE_BUF
  # are whole on any FIFO.  --check-fs must say that, not judge
  # pipefs as a local filesystem with rename and link verdicts.
  run bash -c 'set -o pipefail; safe-append --check-fs /dev/stdout | cat'
  assert_success
  assert_line --index 0 "/dev/stdout: a symbolic link: examined /proc/self/fd/1, where records would go"
  assert_line --index 1 "/proc/self/fd/1: a FIFO (a pipe): no filesystem to check; records of at most 4096 bytes (PIPE_BUF) are written whole"
  assert_equal "${#lines[@]}" 2
  mkfifo fifo
  run safe-append --check-fs fifo
  assert_success
  assert_output "fifo: a FIFO (a pipe): no filesystem to check; records of at most 4096 bytes (PIPE_BUF) are written whole"
}

@test "--check-fs on a device or a socket: refused as appending refuses it" {
  run safe-append -c x /dev/null
  assert_failure 3
  assert_output "safe-append: cannot append to '/dev/null': not a regular file or a FIFO"
  run safe-append --check-fs /dev/null
  assert_failure 3
  assert_output "safe-append: cannot append to '/dev/null': not a regular file or a FIFO"
  # /dev/stdout that is a socket: its link in /proc is followed.
  run perl -MSocket -e '
    socketpair(my $a, my $b, AF_UNIX, SOCK_STREAM, 0) or die "socketpair: $!";
    open(STDOUT, ">&", $a) or die "dup: $!";
    exec "safe-append", "--check-fs", "/dev/stdout" or die "exec: $!"'
  assert_failure 3
  assert_output "safe-append: cannot append to '/dev/stdout': not a regular file or a FIFO"
}

@test "/dev/stdout that is another user's FIFO in a sticky directory is refused" {
  # Its link's text names the FIFO, so the sticky-directory rule for
  # the FIFO there applies, as for a regular file.
  require_root
  id nobody >/dev/null 2>&1 || skip "no user 'nobody'"
  mkdir -m 1777 shared
  mkfifo -m 666 shared/fifo
  chown nobody shared/fifo
  timeout 10 cat shared/fifo >got &
  run bash -c 'exec safe-append -c secret /dev/stdout >shared/fifo'
  wait
  assert_failure 3
  assert_output --partial "not appending to"
  assert_equal "$(cat got)" ""
}

@test "a symlink in a sticky directory owned by someone else is not followed" {
  require_root
  id nobody >/dev/null 2>&1 || skip "no user 'nobody'"
  mkdir -m 1777 shared
  echo secret >victim
  ln -s ../victim shared/log
  chown -h nobody shared/log
  run safe-append shared/log -c injected
  assert_failure 3
  assert_output --partial "not following symbolic link 'shared/log'"
  run safe-append --no-create shared/log -c injected
  assert_failure 3
  run safe-append shared/log <<<"from stdin"
  assert_failure 3
  assert_equal "$(cat victim)" secret

  # A dangling planted link does not create its target either.
  ln -s ../created shared/dangling
  chown -h nobody shared/dangling
  run safe-append shared/dangling -c text
  assert_failure 3
  [ ! -e created ]
}

@test "symlinks that are safe to follow are followed" {
  require_root
  id nobody >/dev/null 2>&1 || skip "no user 'nobody'"
  echo start >target
  # Ours, in a sticky directory.
  mkdir -m 1777 sticky
  ln -s ../target sticky/mine
  safe-append sticky/mine -c one
  # Someone else's, in a directory that is not sticky.
  mkdir -m 0777 open
  ln -s ../target open/theirs
  chown -h nobody open/theirs
  safe-append open/theirs -c two
  # The directory owner's, in a sticky directory.
  mkdir -m 1777 owned
  chown nobody owned
  ln -s ../target owned/owners
  chown -h nobody owned/owners
  safe-append owned/owners -c three
  assert_equal "$(cat target)" $'start\none\ntwo\nthree'
  [ -L sticky/mine ] && [ -L open/theirs ]
}

@test "a trusted dangling symlink: the target's filesystem is checked before it is created" {
  mkdir src mnt
  bindfs_for_test src mnt
  ln -s mnt/log link
  run safe-append link -c text
  assert_failure 3
  assert_output --partial "is on fuse"
  assert_equal "$(ls -A src)" ""
}

@test "--check-fs on a trusted symlink judges the file it leads to, and names it" {
  mkdir src mnt links
  bindfs_for_test src mnt
  ln -s "$PWD/mnt/log" abs
  ln -s ../mnt/log links/rel
  # Appending refuses FUSE; --check-fs says so, of the same file.
  run safe-append abs -c text
  assert_failure 3
  run safe-append --check-fs abs
  assert_success
  assert_line --index 0 "abs: a symbolic link: examined $PWD/mnt/log, where records would go"
  assert_line --index 1 --partial "$PWD/mnt/log: fuse (FUSE filesystem"
  assert_line "  O_APPEND          refuse: appends from other hosts can interleave"
  # A relative target is relative to the link's directory.
  run safe-append --check-fs links/rel
  assert_success
  assert_line --index 0 "links/rel: a symbolic link: examined links/../mnt/log, where records would go"
  assert_line "  O_APPEND          refuse: appends from other hosts can interleave"
}

# assert_check_fs_refuses_as_appending FILE: appending to FILE is
# refused (3), and --check-fs FILE refuses it with the same message,
# which is left in $appending.
assert_check_fs_refuses_as_appending() {
  run safe-append "$1" -c injected
  assert_failure 3
  appending=$output
  run safe-append --check-fs "$1"
  assert_failure 3
  assert_output "$appending"
}

@test "--check-fs on a symlink appending would not follow: refused the same way" {
  require_root
  id nobody >/dev/null 2>&1 || skip "no user 'nobody'"
  mkdir -m 1777 shared
  ln -s ../victim shared/log
  chown -h nobody shared/log
  assert_check_fs_refuses_as_appending shared/log
}

@test "--check-fs on another user's file in a sticky directory: refused as appending refuses it" {
  require_root
  id nobody >/dev/null 2>&1 || skip "no user 'nobody'"
  mkdir -m 1777 shared
  echo planted >shared/log
  chown nobody shared/log
  assert_check_fs_refuses_as_appending shared/log
  # Through a trusted link, the rule applies where the file is.
  ln -s shared/log mine
  run safe-append --check-fs mine
  assert_failure 3
  assert_output "$appending"
  # The directory owner's file is judged as usual.
  mkdir -m 1777 owned
  chown nobody owned
  : >owned/log
  chown nobody owned/log
  run safe-append --check-fs owned/log
  assert_success
  assert_equal "$(cat shared/log)" planted
}

@test "-S through a dangling symlink syncs the directory the file is created in" {
  command -v strace >/dev/null || skip "strace is not installed"
  mkdir links logs
  ln -s ../logs/new links/log
  strace -y -e trace=fsync -o trace safe-append -S links/log -c text
  assert_equal "$(cat logs/new)" text
  [ -L links/log ]
  assert_equal "$(grep -c '^fsync(' trace)" 1
  grep -q "^fsync([0-9]*<$PWD/logs>) = 0" trace || fail "$(cat trace)"
}

@test "-S: a failed sync of the new file's directory says that FILE was created and the record not appended" {
  command -v strace >/dev/null || skip "strace is not installed"
  # The first fsync(2) is the directory's (the record's is fdatasync).
  run_failing_fsync 1 safe-append -S -c text log
  assert_failure 3
  assert_output "safe-append: cannot append record 1 to 'log': created it, but cannot sync its directory: Input/output error"
  [ -f log ] && [ ! -s log ]
  rm log
  # From standard input no record has been read yet: none is named.
  printf 'text\n' >in
  run_failing_fsync 1 safe-append -S log <in
  assert_failure 3
  assert_output "safe-append: cannot append to 'log': created it, but cannot sync its directory: Input/output error"
  [ -f log ] && [ ! -s log ]
}

@test "a chain of trusted links is followed to where the file is created" {
  mkdir a b c
  ln -s ../b/two a/one
  ln -s ../c/three b/two
  safe-append a/one -c text
  assert_equal "$(cat c/three)" text
  [ -L a/one ] && [ -L b/two ]
  ln -s loop a/loop
  run safe-append a/loop -c text
  assert_failure 3
  assert_output --partial "Too many levels of symbolic links"
  ln -s ../d/ a/dir
  run safe-append a/dir -c text
  assert_failure 3
  [ ! -e d ]
}

@test "sticky directory: another user's file or FIFO is refused unless it is the directory owner's" {
  require_root
  id nobody >/dev/null 2>&1 || skip "no user 'nobody'"
  mkdir -m 1777 shared
  echo planted >shared/log
  chmod 666 shared/log
  chown nobody shared/log
  run safe-append shared/log -c secret
  assert_failure 3
  assert_output "safe-append: not appending to 'shared/log': it is in a sticky directory and belongs to another user (uid $(id -u nobody)) than the directory's owner"
  run safe-append --no-create shared/log -c secret
  assert_failure 3
  run safe-append shared/log <<<"from stdin"
  assert_failure 3
  assert_equal "$(cat shared/log)" planted

  # A planted FIFO: refused at once, without waiting for a reader.
  mkfifo -m 666 shared/fifo
  chown nobody shared/fifo
  run timeout 10 safe-append shared/fifo -c secret
  assert_failure 3
  assert_output --partial "not appending to 'shared/fifo'"

  # Group-writable sticky directories too (fs.protected_regular=2).
  mkdir -m 1770 group
  echo planted >group/log
  chown nobody group/log
  run safe-append group/log -c secret
  assert_failure 3

  # Allowed: our own file, the directory owner's, and any file in a
  # directory that is not sticky.
  safe-append shared/mine -c ok
  mkdir -m 1777 owned
  chown nobody owned
  : >owned/log
  chown nobody owned/log
  safe-append owned/log -c ok
  mkdir -m 0777 open
  : >open/log
  chown nobody open/log
  safe-append open/log -c ok
  assert_equal "$(cat shared/mine owned/log open/log)" $'ok\nok\nok'
}

@test "a FIFO with no reader is an error at once, not a wait" {
  mkfifo fifo
  run timeout 10 safe-append fifo -c text
  assert_failure 3
  assert_output "safe-append: cannot append to 'fifo': it is a FIFO that no process is reading"
  # With a reader, the record goes through, and writes block as usual.
  cat fifo >got &
  reader=$!
  exec {keep}>fifo
  safe-append fifo -c text
  exec {keep}>&-
  wait "$reader"
  assert_equal "$(cat got)" text
}

# --- failures while writing ------------------------------------------------------

@test "full disk: status 3 names the record; every record before it is intact" {
  require_root
  mkdir small
  mount -t tmpfs -o size=64k tmpfs small || skip "cannot mount tmpfs"
  records 1 200 1000 >in
  run safe-append small/log <in
  cp small/log got
  umount small
  assert_failure 3
  assert_output --regexp "cannot append record ([0-9]+) to 'small/log'"
  assert_output --partial "No space left on device"
  n=$(echo "$output" | sed -nE 's/.*cannot append record ([0-9]+) .*/\1/p')
  (( n > 1 && n <= 200 ))
  # Records 1 .. n-1 are whole; what follows them is at most a piece of
  # record n.
  head -n $((n - 1)) got | diff - <(records 1 $((n - 1)) 1000)
  tail -n +"$n" got >rest
  (( $(wc -c <rest) < 1000 ))
  [ "$(head -c "$(wc -c <rest)" <(records "$n" "$n" 1000) | cksum)" = "$(cksum <rest)" ]
}

@test "full disk with no room at all: status 3, record 1, file unchanged" {
  require_root
  mkdir small
  mount -t tmpfs -o size=16k tmpfs small || skip "cannot mount tmpfs"
  : >small/log
  head -c 100000 /dev/zero >small/filler 2>/dev/null || true
  run safe-append small/log -c "$(records 1 1 1000)"
  size=$(stat -c %s small/log)
  umount small
  assert_failure 3
  assert_output "safe-append: cannot append record 1 to 'small/log': No space left on device"
  assert_equal "$size" 0
}

@test "full disk, FILE absent: it is left empty, as >> leaves it (man BUGS)" {
  require_root
  mkdir small
  mount -t tmpfs -o size=16k tmpfs small || skip "cannot mount tmpfs"
  head -c 100000 /dev/zero >small/filler 2>/dev/null || true
  run safe-append small/log -c "$(records 1 1 1000)"
  present=no
  [ -f small/log ] && [ ! -s small/log ] && present=empty
  umount small
  assert_failure 3
  assert_output "safe-append: cannot append record 1 to 'small/log': No space left on device"
  # Not removed: another writer may have opened it by then.
  assert_equal "$present" empty
}

@test "the filesystem's largest file size, no ulimit -f: EFBIG is not blamed on a file size limit" {
  require_root
  mkdir big
  mount -t tmpfs -o size=64k tmpfs big || skip "cannot mount tmpfs"
  # tmpfs's largest file size is 2^63 - 1 bytes: a sparse file that
  # large takes no room, and a write at its end fails with EFBIG.
  truncate -s 9223372036854775807 big/log
  run bash -c 'ulimit -f unlimited && safe-append -c hello big/log'
  size=$(stat -c %s big/log)
  umount big
  assert_failure 3
  assert_output "safe-append: cannot append record 1 to 'big/log': File too large"
  assert_equal "$size" 9223372036854775807
}

@test "RLIMIT_FSIZE, one writer: status 3 names the record that does not fit" {
  export -f records
  records 1 10 1000 >in
  # ulimit -f counts 1024-byte blocks: 4096 bytes hold 4 records.
  run bash -c 'ulimit -f 4; safe-append f <in'
  assert_failure 3
  assert_output --partial "cannot append record 5 to 'f': it would go past the file size limit of 4096 bytes"
  assert_output --partial "File too large"
  diff f <(records 1 4 1000)

  # The limit counts what FILE already holds.
  rm f
  records 1 3 1000 >f
  run bash -c 'ulimit -f 4; safe-append f <in'
  assert_failure 3
  assert_output --partial "cannot append record 2 to 'f'"
  diff f <(records 1 3 1000; records 1 1 1000)

  # The single-record form too, and SIGXFSZ never kills it silently.
  run bash -c 'ulimit -f 4; safe-append f -c "$(records 1 1 1000)"'
  assert_failure 3
  assert_output --partial "record 1"
}

@test "RLIMIT_FSIZE with prefixes: the split falls between records" {
  records 1 100 50 >in
  run bash -c 'ulimit -f 2; safe-append --prefix=abcdefghi f <in'
  assert_failure 3
  # 60 bytes per record: 34 fit in 2048 bytes.
  assert_output --partial "cannot append record 35 to 'f'"
  diff f <(records 1 34 50 | sed 's/^/abcdefghi /')
}

# --- the file size limit, with writers racing for the room ---------------------

# One line of '=' signs, BYTES bytes long with its newline.
filler() {
  head -c $(($1 - 1)) /dev/zero | tr '\0' =
  echo
}

# The first child of process PID, if it has one.
first_child() {
  local kids=
  read -r kids _ 2>/dev/null <"/proc/$1/task/$1/children" || true
  echo "$kids"
}

# True if process PID is stopped by its tracer entering system call NR.
stopped_entering() {
  local pid=$1 nr=$2 state call
  [ -n "$pid" ] || return 1
  read -r _ _ state _ 2>/dev/null <"/proc/$pid/stat" || return 1
  read -r call _ 2>/dev/null <"/proc/$pid/syscall" || return 1
  [ "$state" = t ] && [ "$call" = "$nr" ]
}

# size_limit_race SNIPPET
# Issue 11's race, made deterministic.  Under 'ulimit -f 200' (204800
# bytes) 'f' holds 203300 bytes: room for one 1000-byte record and half
# of another.  Writer A evaluates SNIPPET (its record is in 'recA', and
# in $1 without the newline) under strace, which holds A's first
# write(2) as it enters the system call -- after any check of the room
# A makes.  Once A is seen stopped there, writer B, a plain safe-append,
# appends its own 1000-byte record; it must succeed, taking the room A
# saw.  Then A is released (strace is killed, which detaches it) and
# its write goes on.  Sets A_STATUS and A_ERR.
size_limit_race() {
  local snippet=$1 write_nr tracer
  command -v strace >/dev/null || skip "strace is not installed"
  command -v cpp >/dev/null || skip "cpp is not installed"
  write_nr=$(printf '#include <sys/syscall.h>\nSYS_write\n' | cpp -P | tail -n 1)
  filler 203300 >f
  records 1 1 1000 >recA
  (
    ulimit -f 200
    exec strace -f -o /dev/null -e trace=write \
      -e inject=write:delay_enter=60000000:when=1 \
      bash -c "$snippet"' 2>A_err; echo $? >A_status' _ "$(cat recA)"
  ) 3>&- &
  tracer=$!
  a_held() {
    stopped_entering "$(first_child "$(first_child "$tracer")")" "$write_nr"
  }
  wait_until a_held
  run bash -c 'ulimit -f 200; safe-append f -c "$1"' _ "$(records 2 2 1000)"
  local b_status=$status b_output=$output held=yes
  a_held || held=no
  kill -KILL "$tracer"
  wait "$tracer" 2>/dev/null || true
  wait_until test -s A_status
  A_STATUS=$(cat A_status) A_ERR=$(cat A_err)
  [ "$held" = yes ] || fail "writer A was not held in its write while B ran"
  [ "$b_status" = 0 ] || fail "writer B failed ($b_status): $b_output"
}

@test "RLIMIT_FSIZE race (delayed write): the record the limit cuts is removed whole" {
  size_limit_race 'safe-append f -c "$1"'
  assert_equal "$A_STATUS" 3
  assert_equal "$A_ERR" "safe-append: cannot append record 1 to 'f': it would go past the file size limit of 204800 bytes (ulimit -f): File too large"
  diff f <(filler 203300; records 2 2 1000)
}

# True once process PID is dead, or has SIGTERM pending (blocked).
term_pending_or_dead() {
  local pending mask
  is_dead "$1" && return 0
  pending=$(awk '$1 == "SigPnd:" || $1 == "ShdPnd:" { print $2 }' \
              "/proc/$1/status" 2>/dev/null) || return 1
  for mask in $pending; do
    (( 0x$mask & (1 << 14) )) && return 0
  done
  return 1
}

@test "RLIMIT_FSIZE race: a signal that comes before the cut record is removed waits for its removal and its error" {
  command -v strace >/dev/null || skip "strace is not installed"
  command -v cpp >/dev/null || skip "cpp is not installed"
  local shim write_nr tracer a_pid
  shim=$(command -v fault-shim.so) \
    || skip "tests/fault-shim.so is not built (make check builds it)"
  write_nr=$(printf '#include <sys/syscall.h>\nSYS_write\n' | cpp -P | tail -n 1)
  # As in size_limit_race: A's write is held until B has taken the room
  # A saw, so the limit cuts it; then A stops before the ftruncate(2)
  # that removes the piece, and gets SIGTERM there.
  filler 203300 >f
  mkdir fa
  (
    ulimit -f 200
    exec env --default-signal strace -f -o /dev/null -e trace=write \
      -e inject=write:delay_enter=60000000:when=1 \
      env LD_PRELOAD="$shim" FAULT_DIR="$PWD/fa" FAULT_PAUSE=ftruncate:1 \
      safe-append f -c "$(records 1 1 1000)" 2>A_err
  ) 3>&- &
  tracer=$!
  a_held() {
    a_pid=$(first_child "$tracer")
    stopped_entering "$a_pid" "$write_nr"
  }
  wait_until a_held
  run bash -c 'ulimit -f 200; safe-append f -c "$1"' _ "$(records 2 2 1000)"
  assert_success
  kill -KILL "$tracer"
  wait "$tracer" 2>/dev/null || true
  wait_until test -e fa/paused.ftruncate.1
  kill -TERM "$a_pid"
  wait_until term_pending_or_dead "$a_pid"
  touch fa/go.ftruncate.1
  wait_until is_dead "$a_pid"
  # The piece is gone: FILE holds B's record whole after the filler,
  # and nothing of A's.
  diff f <(filler 203300; records 2 2 1000)
  # And A said why its record is not in FILE before the signal ended it.
  grep -q "^safe-append: cannot append record 1 to 'f': it would go past the file size limit" A_err
}

@test "control: the same race leaves half a record from a check-then-write appender" {
  size_limit_race 'tear-lines append -c f <recA'
  assert_equal "$A_STATUS" 1
  assert_equal "$A_ERR" "tear-lines: wrote 500 of 1000 bytes"
  assert_equal "$(stat -c %s f)" 204800
  assert_equal "$(tail -c 500 f)" "$(head -c 500 recA)"
}

# size_limit_rounds WRITERS ROUNDS SNIPPET
# WRITERS writers, each with 40 records of 1000 bytes of its own
# ("w2-0007 xxx..."), wait at a barrier, are released together, and each
# evaluates SNIPPET (with $w set, its records on standard input) to append
# them to 'log' under 'ulimit -f 200' (204800 bytes).  'log' starts with
# 150300 bytes: room for 54 records and half of another, so the writers
# race for the last of it.  After each round the log is checked: it is
# the first 150300 bytes, then whole records only; each writer's records
# are its first K, in order; and a writer either appended all 40 (status
# 0) or reported record K+1 (status 3).  SIZE_LIMIT_BAD counts the rounds
# that broke a rule; SIZE_LIMIT_WHY says how the first one broke it.
size_limit_rounds() {
  local writers=$1 rounds=$2 snippet=$3 round w junk pids
  SIZE_LIMIT_BAD=0 SIZE_LIMIT_WHY=
  filler 150300 >base
  for ((w = 0; w < writers; w++)); do
    records 1 40 1004 | sed "s/^record-/w$w-/" >in.$w
  done
  for ((round = 0; round < rounds; round++)); do
    cp base log
    rm -f ready go
    mkfifo ready go
    exec {ready}<>ready {go}<>go
    pids=()
    for ((w = 0; w < writers; w++)); do
      (
        ulimit -f 200
        printf x >ready
        read -r -N 1 _ <go
        status=0
        eval "$snippet" <in.$w 2>err.$w || status=$?
        echo "$status" >st.$w
      ) 3>&- &
      pids+=($!)
    done
    if ! read -r -t 120 -N "$writers" junk <&$ready; then
      kill "${pids[@]}" 2>/dev/null
      fail "size-limit harness: writers did not reach the barrier"
    fi
    printf "%${writers}s" '' >&$go
    wait "${pids[@]}"
    exec {ready}>&- {go}>&-
    local why
    if ! why=$(size_limit_round_broken "$writers"); then
      SIZE_LIMIT_BAD=$((SIZE_LIMIT_BAD + 1))
      : "${SIZE_LIMIT_WHY:=round $round: $why}"
    fi
  done
}

# Check one round of size_limit_rounds, in one awk run (this machine is
# slow to start processes); print what is wrong and fail.
size_limit_round_broken() {
  awk -v writers="$1" '
    function bad(why) { print why; broken = 1; exit 1 }
    NR == 1 { if (length($0) != 150299) bad("the first 150300 bytes changed"); next }
    NR == 2 { pad = sprintf("%991s", ""); gsub(/ /, "x", pad) }
    {
      if (length($0) != 999 || !match($0, /^w[0-9]+-/))
        bad("line " NR " is not a whole record: " length($0) " bytes, " substr($0, 1, 20) "...")
      w = substr($0, 2, RLENGTH - 2)
      want = sprintf("w%d-%04d ", w, ++got[w])
      if ($0 != want pad) bad("line " NR " is not record " got[w] " of writer " w ": " substr($0, 1, 20) "...")
    }
    END {
      if (broken) exit 1
      for (w = 0; w < writers; w++) {
        k = got[w] + 0
        getline status < ("st." w)
        err = ""
        while ((getline line < ("err." w)) > 0) err = err line " "
        if (k == 40 ? status != 0 : status != 3 || !index(err, "cannot append record " (k + 1) " to '\''log'\''"))
          bad("writer " w ": " k " records in, status " status ": " err)
      }
    }' log
}

@test "RLIMIT_FSIZE, 4 free-running writers racing for the room: every record whole or reported absent" {
  size_limit_rounds 4 $((ROUNDS / 10 + 1)) 'safe-append log'
  assert_equal "$SIZE_LIMIT_BAD rounds broken${SIZE_LIMIT_WHY:+: $SIZE_LIMIT_WHY}" "0 rounds broken"
}

@test "control: 4 writers appending one write per record without a check leave a partial record" {
  size_limit_rounds 4 3 'tear-lines append log'
  assert_equal "$SIZE_LIMIT_BAD" 3
  [[ $SIZE_LIMIT_WHY == *"is not a whole record: 500 bytes"* ]] || fail "$SIZE_LIMIT_WHY"
}

@test "-S: fdatasync after each write" {
  command -v strace >/dev/null || skip "strace is not installed"
  mkfifo in
  strace -e trace=write,fdatasync,fsync -o trace safe-append -S f <in &
  pid=$!
  exec {w}>in
  echo one >&$w
  wait_until grep -q one f
  echo two >&$w
  exec {w}>&-
  wait "$pid"
  assert_equal "$(grep -c 'fdatasync(' trace)" 2
  # The new file's directory entry too, once.
  assert_equal "$(grep -c 'fsync(' trace)" 1
}

@test "-S --tee: a record whose sync fails is in FILE, and is copied to standard output" {
  command -v strace >/dev/null || skip "strace is not installed"
  run --separate-stderr strace -o /dev/null \
    -e inject=fdatasync:error=EIO:when=1 safe-append -S --tee -c text f
  assert_failure 3
  assert_equal "$stderr" "safe-append: cannot sync 'f' after record 1: Input/output error"
  assert_output text
  assert_equal "$(cat f)" text
  # Streaming: the records of the write whose sync failed.
  printf 'a\nb\n' >in
  run --separate-stderr strace -o /dev/null \
    -e inject=fdatasync:error=EIO:when=1 safe-append -S --tee g <in
  assert_failure 3
  assert_equal "$stderr" "safe-append: cannot sync 'g' after record 2: Input/output error"
  assert_output $'a\nb'
  assert_equal "$(cat g)" $'a\nb'
}

@test "-S, a write cut short by a full disk: a failed sync of the records before the cut is reported" {
  # The records a short write put in whole count as appended: with -S
  # they must be on disk, or the user must be told they may not be.
  strace_cut_short_setup
  run strace -o /dev/null \
    -e inject=fdatasync:error=EIO safe-append -S small/log <in
  size=$(stat -c %s small/log)
  umount small
  assert_failure 3
  assert_equal "$size" 4096
  assert_line --index 0 --partial "cannot append record 2 to 'small/log': only 1096 of its 3000 bytes were written"
  assert_line --index 1 "safe-append: cannot sync 'small/log' after record 1: Input/output error"
}

@test "--tee to a closed standard output, then a stop: the note says the records are in FILE, not 'from now on'" {
  # After a failed sync or a write cut short nothing more is appended:
  # a copy failing there must not promise FILE alone "from now on".
  require_root
  command -v strace >/dev/null || skip "strace is not installed"
  printf 'a\nb\nc\n' >in
  # (sh closes it: strace itself would take the free descriptor 1.)
  run strace -o /dev/null -e inject=fdatasync:error=EIO \
    sh -c 'exec safe-append -S --tee log <in >&-'
  assert_failure 3
  assert_line --index 0 "safe-append: cannot sync 'log' after record 3: Input/output error"
  assert_line --index 1 "safe-append: cannot copy records 1 to 3 to standard output; they were appended to 'log': Bad file descriptor"
  assert_equal "${#lines[@]}" 2
  cut_short_setup
  run sh -c 'exec safe-append --tee small/log <in >&-'
  umount small
  assert_failure 3
  assert_line --index 0 --partial "cannot append record 2 to 'small/log': only 1096 of its 3000 bytes were written"
  assert_line --index 1 "safe-append: cannot copy record 1 to standard output; it was appended to 'small/log': Bad file descriptor"
  assert_equal "${#lines[@]}" 2
}

@test "-S with a FIFO or a pipe (/dev/stdout): nothing to sync, not an error" {
  # fdatasync(2) on a pipe fails with EINVAL; a record in a pipe is
  # with its reader, and there is no disk to put it on.
  command -v strace >/dev/null || skip "strace is not installed"
  run bash -c 'printf "a\nb\n" |
               strace -e trace=fdatasync,fsync -o trace safe-append -S /dev/stdout |
               cat >got; exit ${PIPESTATUS[1]}'
  assert_success
  assert_equal "$(cat got)" $'a\nb'
  refute grep -q 'sync(' trace
}

# --- log rotation -------------------------------------------------------------------

@test "SIGHUP does not kill a streaming safe-append" {
  mkfifo in
  safe-append log <in &
  pid=$!
  exec {w}>in
  echo one >&$w
  wait_until grep -qx one log
  kill -HUP "$pid"
  echo two >&$w
  wait_until grep -qx two log
  exec {w}>&-
  status=0
  wait "$pid" || status=$?
  assert_equal "$status" 0
  assert_equal "$(cat log)" $'one\ntwo'
}

@test "SIGHUP while a write to a full FIFO waits: the write goes on waiting, then completes" {
  command -v cpp >/dev/null || skip "cpp is not installed"
  write_nr=$(printf '#include <sys/syscall.h>\nSYS_write\n' | cpp -P | tail -n 1)
  mkfifo fifo go
  records 1 2000 100 >in
  # The reader opens the FIFO at once (our read-write descriptor is a
  # writer, so the open does not wait) but reads only when told to: 200
  # KB of records fill the pipe and safe-append waits in write(2).
  exec {r}<>fifo
  { read -r -N 1 _ <go; exec cat; } <fifo >got {r}>&- &
  reader=$!
  safe-append fifo <in {r}>&- &
  pid=$!
  blocked() {
    local state call
    read -r _ _ state _ 2>/dev/null <"/proc/$pid/stat" || return 1
    read -r call _ 2>/dev/null <"/proc/$pid/syscall" || return 1
    [ "$state" = S ] && [ "$call" = "$write_nr" ]
  }
  wait_until blocked
  kill -HUP "$pid"
  echo >go
  status=0
  wait "$pid" || status=$?
  # The end of the records for the reader: no writer is left.
  exec {r}>&-
  wait "$reader"
  assert_equal "$status" 0
  cmp got in
}

# Start safe-append FILE reading the FIFO ./in (made here), append
# "one" to ./log, rename ./log to log.1 and send SIGHUP, then append
# "two", and wait until it reaches a new ./log.  The writer's pid is
# left in $pid, the FIFO open for writing on $w.
rotate_log() {
  mkfifo in
  safe-append "$1" <in &
  pid=$!
  exec {w}>in
  echo one >&$w
  wait_until grep -qx one log
  mv log log.1
  # The signal is pending before 'two' can be read, so it is handled
  # before 'two' is written.
  kill -HUP "$pid"
  echo two >&$w
  wait_until test -s log
}

# rotations_followed FILE...: for each FILE, a rotation of ./log
# (rotate_log) is followed: "one" in log.1, "two" in the new log.
rotations_followed() {
  local file
  for file; do
    rm -f log log.1 in
    rotate_log "$file"
    exec {w}>&-
    wait "$pid"
    assert_equal "$(cat log.1)" one
    assert_equal "$(cat log)" two
  done
}

@test "rotation by rename, then SIGHUP: the next record goes to a new FILE, none to the old one" {
  rotate_log log
  echo three >&$w
  exec {w}>&-
  wait "$pid"
  assert_equal "$(cat log.1)" one
  assert_equal "$(cat log)" $'two\nthree'
}

@test "FILE that is a descriptor's link in /proc is not reopened by name: records follow the descriptor, as with >>" {
  # Another process's file: when that process exits, its link in /proc
  # is gone, but the file safe-append opened is still there.
  sleep 1000 >>log &
  append_past_exit $! log
  assert_equal "$(cat err)" ""
  assert_equal "$status" 0
  assert_equal "$(cat log)" $'one\ntwo'
  # /dev/stdout to a file rotated away: the descriptor still leads to
  # it, and there the records go; no new FILE is made.
  mkfifo in2
  safe-append /dev/stdout <in2 >>out 2>>err &
  pid2=$!
  exec {w2}>in2
  echo three >&$w2
  wait_until grep -qx three out
  mv out out.1
  kill -HUP "$pid2"
  echo four >&$w2
  exec {w2}>&-
  wait "$pid2" || status=$?
  assert_equal "$(cat err)" ""
  assert_equal "$status" 0
  assert_equal "$(cat out.1)" $'three\nfour'
  [ ! -e out ]
}

@test "FILE reached through a directory in /proc, or a link elsewhere into one, is a file: a rotation is followed" {
  # Only a link followed inside /proc (/proc/PID/fd/N) names a
  # descriptor; /proc/self/cwd/log and a link to it name a file.
  ln -s "/proc/self/cwd/log" via
  # Another process's too, while it runs (its start time is the same
  # at each look).
  sleep 1000 3>&- &
  local other=$!
  rotations_followed /proc/self/cwd/log "/proc/self/root$PWD/log" via \
    "/proc/$other/cwd/log"
  kill "$other"
}

@test "FILE through a descriptor of its directory (/dev/fd/N/log, /proc/PID/fd/N/log) is a file there: a rotation is followed" {
  # The descriptor's link leads to a directory, not to a process's:
  # before, the look-up at the rotation took it for a process that had
  # ended (it has no 'stat'), and the rotation was never followed.
  local dir
  exec {dir}<.
  sleep 1000 3>&- &
  local other=$!
  rotations_followed "/dev/fd/$dir/log" "/proc/$other/fd/$dir/log"
  kill "$other"
  exec {dir}<&-
}

@test "FILE through another process's directory in /proc (/proc/PID/cwd/log): records go on into the file after that process is gone" {
  # With the process, /proc/PID/cwd is gone, but the file safe-append
  # opened is still there: the look at FILE's name finds no directory
  # to look in.  Before, that look was status 3, and the input after it
  # was never written.
  mkdir d
  (cd d && exec sleep 1000) &
  append_past_exit $! d/log "/proc/$!/cwd/log"
  assert_equal "$(cat err)" ""
  assert_equal "$status" 0
  assert_equal "$(cat d/log)" $'one\ntwo'
}

@test "FILE through a link elsewhere into another process's directory in /proc: records go on into the file after that process is gone" {
  # The link is followed as the kernel follows it: /tmp/x/log with
  # /tmp/x -> /proc/PID/cwd leads through /proc as /proc/PID/cwd/log
  # does.  Before, only the text of FILE was looked at: the link
  # dangling once PID had ended was taken for a directory removed, and
  # the look was status 3, the input after it never written.
  mkdir d
  (cd d && exec sleep 1000) &
  ln -s "/proc/$!/cwd" via
  append_past_exit $! d/log via/log
  assert_equal "$(cat err)" ""
  assert_equal "$status" 0
  assert_equal "$(cat d/log)" $'one\ntwo'
  # A link to /proc/PID itself, reached through a relative link.
  rm d/log
  (cd d && exec sleep 1000) &
  ln -s "/proc/$!" p
  ln -s ./p rel
  append_past_exit $! d/log rel/cwd/log
  assert_equal "$(cat err)" ""
  assert_equal "$status" 0
  assert_equal "$(cat d/log)" $'one\ntwo'
  # FILE itself a link to /proc/PID/cwd/log.
  rm d/log
  (cd d && exec sleep 1000) &
  ln -s "/proc/$!/cwd/log" to_log
  append_past_exit $! d/log to_log
  assert_equal "$(cat err)" ""
  assert_equal "$status" 0
  assert_equal "$(cat d/log)" $'one\ntwo'
}

# In a PID namespace of our own, append "one" to FILE, the log in d
# reached through /proc/OLD/cwd/log (OLD a process in d) after HOPS
# times /proc/1/root (the namespace's first process, the shell); end
# OLD, give its pid to a process in e (ns_last_pid), send SIGHUP, and
# append "two".  Both must go to d/log and none to e/log.
append_across_pid_reuse() {
  require_root
  command -v unshare >/dev/null || skip "unshare is not installed"
  mkdir d e
  run unshare --pid --fork --mount-proc bash -c '
    # upto COMMAND...: wait for COMMAND to succeed, at most 10 s.
    upto() {
      local t
      for ((t = 0; t < 1000; t++)); do "$@" && return; sleep 0.01; done
      echo "timed out waiting for: $*"
      exit 1
    }
    cwd_is_d() { [ "$(readlink "/proc/$old/cwd")" = "$PWD/d" ]; }
    prefix=
    for ((i = 0; i < $1; i++)); do prefix+="/proc/$$/root"; done
    (cd d && exec sleep 1000) &
    old=$!
    # Until the subshell has run cd, /proc/$old/cwd/log is ./log: FILE
    # opened then is not in d, and "one" never reaches d/log.
    upto cwd_is_d
    mkfifo in
    safe-append "$prefix/proc/$old/cwd/log" <in 2>err &
    pid=$!
    exec {w}>in
    echo one >&$w
    upto grep -qsx one d/log
    kill "$old"
    wait "$old"
    echo "$((old - 1))" >/proc/sys/kernel/ns_last_pid
    (cd e && exec sleep 1000 {w}>&-) &
    [ "$!" = "$old" ] || { echo "pid $old not reused: $!"; exit 1; }
    kill -HUP "$pid"
    echo two >&$w
    exec {w}>&-
    wait "$pid"' bash "$1"
  assert_success
  assert_equal "$(cat err)" ""
  assert_equal "$(cat d/log)" $'one\ntwo'
  [ ! -e e/log ] || fail "records went to the new process's e/log: $(cat e/log)"
}

@test "FILE through another process's directory in /proc: a process that gets the same pid is not followed" {
  # /proc/PID/cwd/log of a process that ended names, once its pid is
  # given to another process, a file in that process's directory.
  # Before, safe-append took it for FILE rotated, and went on
  # appending there (creating it).
  append_across_pid_reuse 0
}

@test "FILE through five processes' directories in /proc: the fifth's pid given to another process is not followed" {
  # /proc/1/root/proc/1/root/.../proc/PID/cwd/log: safe-append held the
  # directories of the first 4 processes only, and the fifth's pid given
  # to another process was taken for FILE rotated, as the start times
  # before were.
  append_across_pid_reuse 4
}

@test "FILE through another process's directory in /proc: over 50 rotations safe-append holds as many descriptors" {
  # It holds the directory in /proc of each process FILE's name leads
  # through, from the open on; the look-up at each rotation holds its
  # own while it compares, and closes them.
  sleep 1000 3>&- &
  local other=$! n fds
  mkfifo in
  safe-append "/proc/$other/cwd/log" <in 2>err &
  pid=$!
  exec {w}>in
  echo 0 >&$w
  wait_until grep -qx 0 log
  fds=$(ls "/proc/$pid/fd" | wc -l)
  for ((n = 1; n <= 50; n++)); do
    mv log log.1
    kill -HUP "$pid"
    echo "$n" >&$w
    wait_until grep -qx "$n" log
    assert_equal "$(ls "/proc/$pid/fd" | wc -l)" "$fds"
  done
  exec {w}>&-
  wait "$pid"
  kill "$other"
  assert_equal "$(cat err)" ""
}

# What the waits for input in the strace log 'trace' after its Nth
# SIGHUP say: "untimed" once one has no timeout (poll's -1, ppoll's
# NULL), "spinning" if 5 with one came before that, else nothing yet.
waits_after_hangup() {
  awk -v n="$1" '/^--- SIGHUP/ && ++seen == n { on = 1; next }
    on && /^p?poll\(/ {
      if (/^poll\(.*, -1(\)|$)/ || /^ppoll\(.*, NULL, /) {
        print "untimed"; exit
      }
      if (++timed == 5) { print "spinning"; exit }
    }' trace
}

@test "FILE through a process's directory in /proc, once that process has ended: safe-append waits for input with no timeout, never spinning" {
  # Its name is given up then (follow_name), and no look is ever due
  # again.  Before, the wait for input still woke for looks that did
  # nothing and left them due: once the next one came, and at once
  # after a SIGHUP, it polled without waiting, at full speed.
  command -v strace >/dev/null || skip "strace is not installed"
  sleep 1000 3>&- &
  local other=$!
  mkfifo in
  strace -o trace -e trace=poll,ppoll \
    bash -c 'echo $$ >pid; exec safe-append "$1"' sh "/proc/$other/cwd/log" \
    <in 2>err &
  local tracer=$!
  exec {w}>in
  echo one >&$w
  wait_until grep -sqx one log
  pid=$(cat pid)
  kill "$other"
  wait "$other" || true
  # Two SIGHUPs while it waits for input: at the first, the look gives
  # the name up (the process has ended); the second asks for a look that
  # is no longer made.  After each, it waits for input with no timeout.
  local n
  for n in 1 2; do
    wait_until sleeps_in_poll "$pid"
    kill -HUP "$pid"
    wait_until eval '[ -n "$(waits_after_hangup "$n")" ]'
    assert_equal "$(waits_after_hangup "$n")" untimed
  done
  echo two >&$w
  exec {w}>&-
  wait "$tracer"
  assert_equal "$(cat err)" ""
  assert_equal "$(cat log)" $'one\ntwo'
  # Once it waited with no timeout, it never waited with one again.
  awk '/^p?poll\(/ {
         untimed = /^poll\(.*, -1\)/ || /^ppoll\(.*, NULL, /
         if (seen && !untimed) bad = 1
         if (untimed) seen = 1
       }
       END { exit bad || !seen }' trace || fail "$(cat trace)"
}

@test "FILE through another process's directory in /proc: a process that ends just after FILE is opened, its pid given to another, is not followed" {
  # Before, FILE's name was traced after FILE was opened: the process
  # FILE was opened through, ended in between and its pid given to a
  # new one, was taken for the new one, whose directory was then
  # followed as FILE rotated.  strace holds safe-append at its first
  # look at FILE through the descriptor it opened, just after the
  # open, while that happens.
  require_root
  command -v unshare >/dev/null || skip "unshare is not installed"
  command -v strace >/dev/null || skip "strace is not installed"
  command -v cpp >/dev/null || skip "cpp is not installed"
  local nr
  nr=$(printf '#include <sys/syscall.h>\nSYS_newfstatat\n' | cpp -P | tail -n 1)
  [[ $nr == [0-9]* ]] || skip "no newfstatat system call"
  mkdir d e
  mkfifo in
  run unshare --pid --fork --mount-proc bash -c '
    # True once the tracee is stopped entering the delayed fstat of
    # d/log, open.  The descriptor matters: every system call stops it
    # for a moment, and the newfstatat calls before it (the loader'"'"'s,
    # the look-up of FILE'"'"'s directories) are not held.
    held() {
      local state call fd
      # children ends without a newline: read then fails, having read.
      pid=
      read -r pid _ <"/proc/$tracer/task/$tracer/children"
      [ -n "$pid" ] &&
        read -r _ _ state _ <"/proc/$pid/stat" &&
        read -r call fd _ <"/proc/$pid/syscall" &&
        [ "$state" = t ] && [ "$call" = "$1" ] &&
        [ "$(readlink "/proc/$pid/fd/$((fd))")" = "$PWD/d/log" ]
    } 2>/dev/null
    cd d; sleep 1000 & cd ..
    old=$!
    exec {w}<>in
    strace -o /dev/null -P "$PWD/d/log" \
      -e inject=newfstatat:delay_enter=60000000:when=1 \
      safe-append "/proc/$old/cwd/log" <in 2>err {w}>&- &
    tracer=$!
    for ((i = 0; i < 1000; i++)); do held "$1" && break; sleep 0.01; done
    held "$1" || { echo "not held at the fstat after the open"; exit 1; }
    [ -e d/log ] || { echo "d/log not opened before the fstat"; exit 1; }
    kill "$old"
    wait "$old"
    echo "$((old - 1))" >/proc/sys/kernel/ns_last_pid
    cd e; sleep 1000 {w}>&- & cd ..
    [ "$!" = "$old" ] || { echo "pid $old not reused: $!"; exit 1; }
    kill -KILL "$tracer"
    kill -HUP "$pid"
    echo one >&$w
    echo two >&$w
    exec {w}>&-
    while grep -qs "^State:[[:space:]]*[^Z]" "/proc/$pid/status"; do
      sleep 0.01
    done' _ "$nr"
  assert_success
  assert_equal "$(cat err)" ""
  assert_equal "$(cat d/log)" $'one\ntwo'
  [ ! -e e/log ] || fail "records went to the new process's e/log: $(cat e/log)"
}

# append_around FILE, DIR/log, removing directory DIR.
append_past_rmdir() {
  append_around "$1" "$2/log" rm -rf "$2"
}

@test "FILE whose directory is removed: status 3, also through a running process's directory in /proc" {
  # The name leads nowhere, and nothing tells the records where to go.
  mkdir -p d/sub
  append_past_rmdir d/sub/log d/sub
  assert_equal "$status" 3
  # (record 2, or none if the SIGHUP was seen while waiting for it)
  grep -q "^safe-append: cannot append .*to 'd/sub/log': No such file or directory$" err
  # The same through /proc/PID/cwd while process PID runs: its
  # directory is still there, only FILE's is gone.  Before, any
  # directory missing under /proc was taken for a process that had
  # ended: the name was given up, and the records went on, status 0,
  # into a file no name leads to.
  mkdir -p d/sub
  (cd d && exec sleep 1000) &
  local owner=$!
  append_past_rmdir "/proc/$owner/cwd/sub/log" d/sub
  kill "$owner"
  assert_equal "$status" 3
  grep -q "^safe-append: cannot append .*to '/proc/$owner/cwd/sub/log': No such file or directory$" err
}

# safe-append --no-create log streams a record "one" from a FIFO; then
# COMMAND... takes log away, and a SIGHUP makes safe-append look at the
# name.  Sets status to its exit status; its stderr is in err.
no_create_after() {
  mkfifo in
  : >log
  safe-append --no-create log <in 2>err &
  local pid=$! w
  exec {w}>in
  echo one >&$w
  wait_until grep -qx one log
  "$@"
  kill -HUP "$pid"
  status=0
  wait "$pid" || status=$?
  exec {w}>&-
}

@test "rotation with --no-create: FILE renamed away and absent is status 3, with a message that says so; FILE stays absent" {
  no_create_after mv log log.1
  assert_equal "$status" 3
  assert_equal "$(cat err)" "safe-append: cannot append to 'log': it was renamed away (rotated), and --no-create forbids creating it again"
  assert_equal "$(cat log.1)" one
  [ ! -e log ]
}

# Bytes process PID has read so far (/proc/PID/io, rchar).
read_so_far() {
  awk '$1 == "rchar:" { print $2 }' "/proc/$1/io"
}

@test "--no-create: FILE removed (not renamed) while streaming is status 3, with a message that says it was removed" {
  no_create_after rm log
  assert_equal "$status" 3
  assert_equal "$(cat err)" "safe-append: cannot append to 'log': it was removed, and --no-create forbids creating it again"
  [ ! -e log ]
}

@test "--no-create: FILE removed while another hard link to it remains is not said to be renamed away" {
  : >log
  ln log keep
  # A file opened with two links still has one after either a rename
  # of FILE or its removal: the message cannot choose, and names both.
  no_create_after rm log
  assert_equal "$status" 3
  assert_equal "$(cat err)" "safe-append: cannot append to 'log': it was renamed away, or removed while another link to it remains, and --no-create forbids creating it again"
  assert_equal "$(cat keep)" one
  [ ! -e log ]
}

@test "--no-create: FILE a symbolic link that is removed is not said to be renamed away" {
  : >real
  ln -s real log
  # The file the link led to keeps its one link: that says nothing of
  # the link, whose name is gone.
  no_create_after rm log
  assert_equal "$status" 3
  assert_equal "$(cat err)" "safe-append: cannot append to 'log': it was removed or renamed away, and --no-create forbids creating it again"
  assert_equal "$(cat real)" one
  [ ! -e log ] && [ ! -L log ]
}

@test "a failed reopen while waiting, with part of a record read: the message names that record" {
  mkfifo in
  : >log
  safe-append --no-create log <in 2>err &
  pid=$!
  exec {w}>in
  echo one >&$w
  wait_until grep -qx one log
  # Record 2 begins: safe-append has read 'tw', and waits for the rest.
  before=$(read_so_far "$pid")
  printf tw >&$w
  wait_until [ "$(read_so_far "$pid")" -ge $((before + 2)) ]
  mv log log.1
  kill -HUP "$pid"
  status=0
  wait "$pid" || status=$?
  exec {w}>&-
  assert_equal "$status" 3
  assert_equal "$(cat err)" "safe-append: cannot append record 2 to 'log': it was renamed away (rotated), and --no-create forbids creating it again"
  assert_equal "$(cat log.1)" one
  [ ! -e log ]
}

# reopen_before_write DIR [RUN_AS...] -- [OPTION...]: run safe-append
# OPTION... DIR/log (through RUN_AS, if given) under strace, fed by a
# FIFO; after record 1, rename DIR/log to DIR/log.1, then send record 2,
# with a SIGHUP that strace sends at the read(2) that brings it: the
# look at FILE's name (follow_name) then comes after that read, before
# record 2 is written, not while safe-append waits for input.  The
# 'before' hook, if defined, runs just after the rename; the array
# reopen_strace, if set, holds more strace options for that run.  Sets
# status and err.
reopen_before_write() {
  local dir=$1; shift
  local run_as=()
  while [ "$1" != -- ]; do run_as+=("$1"); shift; done
  shift
  # Which read(2) brings record 2: the second from standard input.
  echo x >"$dir/dry-in"
  "${run_as[@]}" touch "$dir/dry-log"
  "${run_as[@]}" strace -o "$dir/dry" -e trace=read \
    safe-append "$@" "$dir/dry-log" <"$dir/dry-in"
  local n
  n=$(awk '/^read\(0,/ { print n + 2; exit } /^read\(/ { n++ }' "$dir/dry")
  mkfifo "$dir/in"
  "${run_as[@]}" strace -o /dev/null -e trace=read \
    -e inject=read:signal=HUP:when="$n" "${reopen_strace[@]}" \
    safe-append "$@" "$dir/log" <"$dir/in" 2>"$dir/err" &
  local pid=$!
  exec {w}>"$dir/in"
  echo one >&$w
  wait_until grep -sqx one "$dir/log"
  mv "$dir/log" "$dir/log.1"
  if declare -F before >/dev/null; then before; fi
  echo two >&$w
  status=0
  wait "$pid" || status=$?
  exec {w}>&-
  err=$(cat "$dir/err")
}

@test "a failed reopen after a rotation, just before a write, names the record that was not written" {
  command -v strace >/dev/null || skip "strace is not installed"
  mkdir d
  : >d/log
  reopen_before_write d -- --no-create
  assert_equal "$status" 3
  assert_equal "$err" "safe-append: cannot append record 2 to 'd/log': it was renamed away (rotated), and --no-create forbids creating it again"
  assert_equal "$(cat d/log.1)" one
  [ ! -e d/log ]
}

@test "a reopen after a rotation that cannot create FILE, just before a write, names the record that was not written" {
  command -v strace >/dev/null || skip "strace is not installed"
  require_root
  require_setpriv
  id nobody >/dev/null 2>&1 || skip "no user 'nobody'"
  chmod o+x "$BATS_TEST_TMPDIR"
  mkdir d
  chown nobody d
  # The directory that held the log is made unwritable by the rotation.
  before() { chmod a-w d; }
  reopen_before_write d setpriv --reuid=nobody --regid=nogroup \
    --clear-groups --
  assert_equal "$status" 3
  assert_equal "$err" "safe-append: cannot append record 2 to 'd/log': Permission denied"
  assert_equal "$(cat d/log.1)" one
  [ ! -e d/log ]
}

@test "after a rotation, another user's file planted in a sticky directory: the refusal names the record that was not written" {
  command -v strace >/dev/null || skip "strace is not installed"
  require_root
  id nobody >/dev/null 2>&1 || skip "no user 'nobody'"
  mkdir d
  chmod 1777 d
  : >d/log
  # Another user plants FILE just after the rename.
  before() { : >d/log; chown nobody d/log; }
  reopen_before_write d --
  assert_equal "$status" 3
  assert_equal "$err" "safe-append: cannot append record 2 to 'd/log': not appending to 'd/log': it is in a sticky directory and belongs to another user (uid $(id -u nobody)) than the directory's owner"
  assert_equal "$(cat d/log.1)" one
  assert_equal "$(stat -c %s d/log)" 0
  # The same with another user's symbolic link planted there.
  mkdir e
  chmod 1777 e
  : >e/log
  before() { ln -s elsewhere e/log; chown -h nobody e/log; }
  reopen_before_write e --
  assert_equal "$status" 3
  assert_equal "$err" "safe-append: cannot append record 2 to 'e/log': not following symbolic link 'e/log': it is in a sticky directory and belongs to another user (uid $(id -u nobody))"
  assert_equal "$(cat e/log.1)" one
  [ ! -e e/elsewhere ]
}

@test "after a rotation, FILE on a filesystem that is refused: the refusal names the record that was not written" {
  command -v strace >/dev/null || skip "strace is not installed"
  mkdir d src mnt
  bindfs_for_test src mnt
  : >d/log
  # The rotation leaves in FILE's place a link to a file on FUSE.
  before() { ln -s ../mnt/log d/log; }
  reopen_before_write d --
  assert_equal "$status" 3
  [[ $err == "safe-append: cannot append record 2 to 'd/log': 'd/log' is on fuse"*": appends from other hosts can interleave; use --force to go ahead anyway" ]] ||
    fail "stderr: $err"
  assert_equal "$(cat d/log.1)" one
  [ ! -e src/log ]
}

@test "after a rotation with -S, a failed sync of the new FILE's directory names the record that was not written" {
  command -v strace >/dev/null || skip "strace is not installed"
  mkdir d
  : >d/log
  # FILE exists at the start: the first fsync(2) is the one of the
  # directory FILE is created in again after the rotation.
  reopen_strace=(-e trace=read,fsync -e inject=fsync:error=EIO:when=1)
  reopen_before_write d -- -S
  assert_equal "$status" 3
  assert_equal "$err" "safe-append: cannot append record 2 to 'd/log': created it, but cannot sync its directory: Input/output error"
  assert_equal "$(cat d/log.1)" one
  [ -f d/log ] && [ ! -s d/log ]
}

@test "--tee, rotation by rename onto standard output's file: refused at the reopen, status 3, no record copied into FILE again" {
  mkfifo in
  safe-append --tee log <in >>log.next 2>err &
  pid=$!
  exec {w}>in
  echo one >&$w
  wait_until grep -qx one log
  mv log log.1
  mv log.next log
  # The signal is pending before 'two' can be read (rotate_log): the
  # reopen finds standard output's file, and safe-append stops there.
  kill -HUP "$pid"
  (trap '' PIPE; echo two >&$w) 2>/dev/null || true
  exec {w}>&-
  status=0
  wait "$pid" || status=$?
  assert_equal "$status" 3
  assert_equal "$(cat err)" "safe-append: cannot append to 'log': after a rotation it is standard output: --tee would write its records into it again"
  assert_equal "$(cat log.1)" one
  assert_equal "$(cat log)" one
}

@test "rotation by rename onto standard input's file: refused at the reopen, status 3, no record read back into FILE" {
  # Standard input is a regular file of more than one read (256 KiB).
  # --tee into a pipe nobody reads yet holds safe-append after the
  # first write into FILE (the copy fills the pipe): the rotation and
  # the SIGHUP come then, and the look they ask for comes before the
  # next write.  The ulimit only bounds a safe-append that would
  # append the file it reads to itself.
  seq 100000 >in
  mkfifo out
  (ulimit -f 8192; exec safe-append --tee log <in >out 2>err) &
  pid=$!
  exec {r}<out
  wait_until test -s log
  mv log log.1
  mv in log
  kill -HUP "$pid"
  cat <&$r >copy
  exec {r}<&-
  status=0
  wait "$pid" || status=$?
  assert_equal "$status" 3
  n=$(wc -l <log.1)
  assert_equal "$(cat err)" "safe-append: cannot append record $((n + 1)) to 'log': after a rotation it is standard input"
  # The new FILE is the input as it was: nothing appended to it.
  cmp log <(seq 100000)
  cmp copy log.1
  cmp log.1 <(seq "$n")
}

@test "rotation by rename, no signal: FILE is reopened by name at a later look, no line lost, none after it in the old file" {
  mkfifo in
  safe-append log <in &
  pid=$!
  exec {w}>in
  echo line-0 >&$w
  wait_until grep -qx line-0 log
  mv log log.1
  # A slow producer: a line every 0.1 s until one lands in a new log
  # (safe-append looks at FILE's name before a write once a second has
  # passed, and creates an absent FILE at the look after that).
  n=0
  until [ -s log ]; do
    ((++n <= 150)) || fail "150 lines, and still no new log"
    echo "line-$n" >&$w
    sleep 0.1
  done
  for i in 1 2 3; do echo "line-$((n + i))" >&$w; done
  exec {w}>&-
  wait "$pid"
  # Every line once, in order: the old file, then the new one.
  diff <(cat log.1 log) <(for ((i = 0; i <= n + 3; i++)); do echo "line-$i"; done)
  (( $(wc -l <log) >= 4 ))
}

# quiet_rotation [COMMAND...]: COMMAND (if any) runs 'safe-append log',
# fed by a FIFO whose writing end is fd $w; after one record, 'log' is
# renamed to log.1, and nothing more is written until safe-append has
# made 'log' again: it looks at FILE's name while it waits for input
# too, and creates it at the look after the one that found it absent.
# $pid is the background process.
quiet_rotation() {
  mkfifo in
  "$@" safe-append log <in &
  pid=$!
  exec {w}>in
  echo one >&$w
  wait_until grep -qx one log
  mv log log.1
  wait_until test -e log
}

@test "rotation by rename while the producer is quiet: FILE is re-created without a write, and the next record goes there" {
  quiet_rotation
  echo two >&$w
  exec {w}>&-
  wait "$pid"
  assert_equal "$(cat log.1)" one
  assert_equal "$(cat log)" two
}

@test "a quiet producer: the looks while waiting do not spin" {
  command -v strace >/dev/null || skip "strace is not installed"
  quiet_rotation strace -o trace -e trace=poll
  exec {w}>&-
  wait "$pid"
  # A wait until the next look is due, then a look: over the two looks
  # a few polls, not thousands.
  n=$(grep -c '^poll(' trace)
  ((n >= 2 && n < 50)) || fail "$n polls"
}

# catches_hangup PID: PID is safe-append, its SIGHUP handler set (bit 0
# of SigCgt), so that a SIGHUP only makes it look at FILE's name.
catches_hangup() {
  local mask
  [ "$(cat "/proc/$1/comm" 2>/dev/null)" = safe-append ] || return 1
  mask=$(awk '/^SigCgt:/ { print $2 }' "/proc/$1/status" 2>/dev/null)
  [ -n "$mask" ] && (( 0x$mask & 1 ))
}

# rotate_while_streaming CONFIG_BODY
# Four writers stream tear-lines lines (slowly: 1000 each, a pause of
# 3 ms after each chunk) into 'log' through safe-append, while logrotate
# -f rotates it with CONFIG_BODY (the pids of the four safe-appends are
# in 'pids') every 0.2 s -- whenever 'log' is not empty, so a rotation
# after the first one proves that the writers moved to the new log.
# Past half their lines the writers slow down until three rotations are
# done (tear-lines -w), so lines still flow then however fast the
# machine is.  Sets ROTATIONS and CHECK (tear-lines check over all the
# files).
rotate_while_streaming() {
  command -v logrotate >/dev/null || skip "logrotate is not installed"
  local body=$1 seed=$((RANDOM + 1)) w pids=() status=0
  printf '%s {\n%s\n}\n' "$PWD/log" "$body" >rotate.conf
  : >log
  for ((w = 0; w < 4; w++)); do
    tear-lines gen -s "$seed" -d 3000 -w "$PWD/enough" "$w" 1000 |
      safe-append log 3>&- &
    pids+=($!)
  done
  echo "${pids[*]}" >pids
  # One writer's lines in 'log' do not mean that the others have set
  # their SIGHUP handler yet: a SIGHUP before that kills one (129).
  for w in "${pids[@]}"; do wait_until catches_hangup "$w"; done
  ROTATIONS=0
  while kill -0 "${pids[@]}" 2>/dev/null; do
    if [ -s log ]; then
      logrotate -f -s state rotate.conf || fail "logrotate failed"
      ROTATIONS=$((ROTATIONS + 1))
      ((ROTATIONS < 3)) || : >enough
    fi
    sleep 0.2
  done
  for w in "${pids[@]}"; do wait "$w" || status=$?; done
  [ "$status" = 0 ] || fail "a writer failed (status $status)"
  CHECK=$(cat log* | tear-lines check -s "$seed" 4 1000) || true
  echo "rotations: $ROTATIONS; $CHECK"
}

@test "logrotate 'create' with SIGHUP while 4 writers stream: every line once across the files, none torn" {
  rotate_while_streaming '  create 0640
  rotate 1000
  postrotate
    kill -HUP $(cat '"$PWD"'/pids) 2>/dev/null || true
  endscript'
  assert_equal "$CHECK" "intact=4000 torn=0 missing=0 duplicate=0"
  ((ROTATIONS >= 3)) || fail "only $ROTATIONS rotations while the writers ran"
  # The files logrotate made are the ones written to: never one of ours
  # in its way (it would have kept it as log-DATE.backup).
  [ -z "$(ls | grep backup)" ] || fail "$(ls)"
  assert_equal "$(stat -c %a log)" 640
}

@test "logrotate 'create' without a signal while 4 writers stream: every line once, none torn" {
  rotate_while_streaming '  create
  rotate 1000'
  assert_equal "$CHECK" "intact=4000 torn=0 missing=0 duplicate=0"
  ((ROTATIONS >= 3)) || fail "only $ROTATIONS rotations while the writers ran"
  [ -z "$(ls | grep backup)" ] || fail "$(ls)"
}

# One record, a logrotate copytruncate run, one more record, through
# WRITER (reading the FIFO 'in').
copytruncate_once() {
  command -v logrotate >/dev/null || skip "logrotate is not installed"
  printf '%s {\n  copytruncate\n  rotate 10\n}\n' "$PWD/log" >rotate.conf
  mkfifo in
  eval "$1" <in &
  pid=$!
  exec {w}>in
  echo one >&$w
  wait_until grep -qx one log
  logrotate -f -s state rotate.conf
  echo two >&$w
  wait_until grep -q two log
  exec {w}>&-
  wait "$pid"
}

@test "logrotate 'copytruncate': appending goes on at the start of the emptied FILE" {
  copytruncate_once 'safe-append log'
  assert_equal "$(cat log.1)" one
  assert_equal "$(od -An -c log | tr -s ' ')" " t w o \n"
}

@test "control: copytruncate under a writer without O_APPEND leaves NUL bytes" {
  copytruncate_once 'cat >log'
  assert_equal "$(cat log.1)" one
  assert_equal "$(od -An -c log | tr -s ' ')" " \\0 \\0 \\0 \\0 t w o \n"
}

# --- signals ---------------------------------------------------------------------

# Send SIGALRM (whose default action kills) while a 64 MiB record is
# being written, and report how many bytes reached the file.  CMD
# appends in.big to 'out' with one write.
#
# The first bytes are watched for with a tight loop of built-ins, not
# with wait_until: its 10 ms between looks is a fixed cost while the
# write gets shorter on a faster machine (20-50 ms here, cut anywhere
# from 9% to 72% of the way), so on one a few times faster the signal
# would often come after the write, and the control below would see no
# cut.  Looked for without a pause, the write is cut as soon as its
# first pages are there (about 6% of the way, every time).
signal_mid_write() {
  local cmd=$1
  rm -f out
  bash -c "$cmd" &
  local pid=$!
  local end=$((SECONDS + 10))
  until [ -s out ]; do
    ((SECONDS < end)) || { fail "timed out waiting for: [ -s out ]"; return 1; }
  done
  kill -ALRM "$pid" 2>/dev/null
  wait "$pid" || true
  stat -c %s out
}

@test "a signal during a write waits for the write: never a partial record" {
  head -c $((64 * 1024 * 1024 - 1)) /dev/zero >in.big
  echo >>in.big
  size=$(stat -c %s in.big)
  for i in 1 2 3; do
    got=$(signal_mid_write 'exec safe-append --whole --max-record=128M out <in.big')
    assert_equal "$got" "$size"
  done
}

@test "control: the same signal cuts a plain write part-way" {
  head -c $((64 * 1024 * 1024 - 1)) /dev/zero >in.big
  echo >>in.big
  size=$(stat -c %s in.big)
  # One cut is the proof; a loaded machine may let a whole write or two
  # go by before this shell runs again, so try up to 20 times.
  local i
  for ((i = 0; i < 20; i++)); do
    got=$(signal_mid_write 'exec dd if=in.big of=out bs=128M oflag=append conv=notrunc status=none')
    ((got < size)) && return 0
  done
  fail "dd was never interrupted mid-write in 20 tries"
}

# From a regular file, signals stay held from one write to the next for
# up to 4 MiB (HOLD_SPAN), not to the end: the signal must stop the copy
# of 64 MiB early, and at a record's end.  Each write (256 KiB) is
# delayed 100 ms (strace), so the copy would last 25 s, and the signal
# surely comes during it.
@test "a signal during a copy from a file stops it soon, after a whole record" {
  command -v strace >/dev/null || skip "strace is not installed"
  line=$(head -c 1023 /dev/zero | tr '\0' x)
  yes "$line" | head -n 65536 >in.lines
  size=$(stat -c %s in.lines)
  strace -qq -o /dev/null -e trace=write -e inject=write:delay_enter=100000 \
    safe-append out <in.lines &
  tracer=$!
  wait_until test -s out
  local tracee before
  tracee=$(pgrep -P "$tracer")
  before=$(stat -c %s out)
  kill -ALRM "$tracee"
  status=0
  wait "$tracer" || status=$?
  assert_equal "$status" $((128 + 14))
  got=$(stat -c %s out)
  # Let through within 4 MiB of writes (a write more for one that had
  # begun, and one for this shell's own delay between stat and kill):
  # far from the end (64 MiB) it would reach if held throughout.
  ((got <= before + 4 * 1024 * 1024 + 2 * 256 * 1024)) ||
    fail "$got of $size bytes were written before SIGALRM came through ($before when it was sent)"
  assert_equal $((got % 1024)) 0
  assert_equal "$(tail -c 1 out | od -An -c | tr -d ' ')" '\n'
}

# start_unfinished_record OPTION...: a streaming 'safe-append OPTION...
# log' (its pid in $pid, stderr in err) reads "a\nb" from the FIFO p,
# held open on descriptor 7, in one read; once "a" is in log, "b" is
# the start of a record still unfinished.
start_unfinished_record() {
  mkfifo p
  safe-append "$@" log <p 2>err &
  pid=$!
  exec 7>p
  printf 'a\nb' >&7
  wait_until grep -qsx a log
}

# end_unfinished_record: send SIGTERM to the safe-append that
# start_unfinished_record started, reap it (its status in $status), and
# close the FIFO.
end_unfinished_record() {
  kill -TERM "$pid"
  status=0
  wait "$pid" || status=$?
  exec 7>&-
}

@test "a terminating signal drops an unfinished record, and says so on stderr" {
  start_unfinished_record
  end_unfinished_record
  assert_equal "$status" $((128 + 15))
  assert_equal "$(cat log)" a
  assert_equal "$(cat err)" "safe-append: warning: dropped 1 byte of input not yet appended to 'log' (terminated by a signal)"
}

@test "-q: a terminating signal drops an unfinished record without a word" {
  start_unfinished_record -q
  end_unfinished_record
  assert_equal "$status" $((128 + 15))
  assert_equal "$(cat log)" a
  assert_equal "$(cat err)" ""
}

@test "--whole: a terminating signal drops the record read so far, says so, and leaves the FILE it created empty" {
  command -v strace >/dev/null || skip "strace is not installed"
  mkfifo p
  # strace tells when the record is read: nothing of it is in log.
  strace -qq -o trace -e trace=read safe-append --whole log <p 2>err &
  tracer=$!
  exec 7>p
  printf 'a\nb' >&7
  wait_until grep -qs '^read(0, "a\\nb", [0-9]*) *= 3$' trace
  kill -USR1 "$(pgrep -P "$tracer")"
  status=0
  wait "$tracer" || status=$?
  exec 7>&-
  assert_equal "$status" $((128 + 10))
  assert_equal "$(stat -c %s log)" 0
  assert_equal "$(cat err)" "safe-append: warning: dropped 3 bytes of input not yet appended to 'log' (terminated by a signal)"
}

@test "a terminating signal while a write to a full FIFO waits: the records it drops are counted in the warning" {
  # 100000 bytes of whole records, read at once; the FIFO out, held
  # open here and never read, takes 65536 of them (16 writes of 4096).
  yes x | head -c 100000 >in
  mkfifo out
  exec 8<>out
  safe-append out <in 2>err &
  pid=$!
  wait_until grep -qsx 'wchar: 65536' "/proc/$pid/io"
  kill -TERM "$pid"
  status=0
  wait "$pid" || status=$?
  exec 8>&-
  assert_equal "$status" $((128 + 15))
  assert_equal "$(cat err)" "safe-append: warning: dropped 34464 bytes of input not yet appended to 'out' (terminated by a signal)"
}

@test "a signal the caller left ignored stays ignored: the unfinished record is completed and appended" {
  mkfifo p
  env --ignore-signal=TERM safe-append log <p 2>err &
  pid=$!
  exec 7>p
  printf 'a\nb' >&7
  wait_until grep -qsx a log
  kill -TERM "$pid"
  printf 'c\n' >&7
  exec 7>&-
  wait "$pid"
  assert_equal "$(cat log)" $'a\nbc'
  assert_equal "$(cat err)" ""
}

# strace sends SIGTERM as the first write, of the record "a\n", begins:
# held (write_unbroken), it is delivered when that write is complete, and
# "b", the start of the next record, is all that is dropped.
@test "a terminating signal held during a write does not count the record that write appended as dropped" {
  command -v strace >/dev/null || skip "strace is not installed"
  status=0
  printf 'a\nb' | "${term_at_first_write[@]}" safe-append log 2>err \
    || status=$?
  assert_equal "$status" $((128 + 15))
  assert_equal "$(cat log)" a
  assert_equal "$(cat err)" "safe-append: warning: dropped 1 byte of input not yet appended to 'log' (terminated by a signal)"
}

# On a 4 KiB tmpfs the one write of two 3000-byte records comes back
# short at 4096 bytes: record 1 is whole in 'small/log', 1096 bytes of
# record 2 are after it.  strace sends SIGTERM as that write begins:
# held, it is delivered after the short write is dealt with, and only
# record 2, not appended, is dropped: 3000 bytes, not 6000.  With
# --prefix the count is of input bytes, not of the bytes with prefixes.
@test "a terminating signal held during a short write does not count the records it appended as dropped" {
  strace_cut_short_setup
  status=0
  "${term_at_first_write[@]}" safe-append small/log <in 2>err || status=$?
  head -c 3000 small/log >whole
  size=$(stat -c %s small/log)
  rm small/log
  status_p=0
  "${term_at_first_write[@]}" safe-append --prefix=abc small/log <in 2>err_p \
    || status_p=$?
  head -c 3004 small/log >whole_p
  umount small
  assert_equal "$status" $((128 + 15))
  assert_equal "$size" 4096
  diff whole <(records 1 1 3000)
  assert_equal "$(tail -n 1 err)" "safe-append: warning: dropped 3000 bytes of input not yet appended to 'small/log' (terminated by a signal)"
  assert_equal "$status_p" $((128 + 15))
  diff whole_p <(records 1 1 3000 | sed 's/^/abc /')
  assert_equal "$(tail -n 1 err_p)" "safe-append: warning: dropped 3000 bytes of input not yet appended to 'small/log' (terminated by a signal)"
}

# The same short write, SIGTERM sent as it begins: the error that says
# why record 2 was not appended comes out before the held signal is let
# through, then the warning of the bytes dropped.
@test "a terminating signal held during a short write: the record's error comes out before the signal kills" {
  strace_cut_short_setup
  status=0
  "${term_at_first_write[@]}" safe-append small/log <in 2>err || status=$?
  umount small
  assert_equal "$status" $((128 + 15))
  assert_equal "$(cat err)" "safe-append: cannot append record 2 to 'small/log': only 1096 of its 3000 bytes were written: No space left on device
safe-append: warning: dropped 3000 bytes of input not yet appended to 'small/log' (terminated by a signal)"
}

# The same, standard error a full pipe nobody reads: the error cannot
# be written at once, so it is dropped and the signal ends safe-append.
@test "a terminating signal held during a short write, stderr a full pipe: the signal still ends safe-append" {
  strace_cut_short_setup
  mkfifo errpipe
  # Held open for reading and writing, and filled: nobody reads it.
  exec 8<>errpipe
  head -c 65536 /dev/zero >&8
  "${term_at_first_write[@]}" safe-append small/log <in 2>errpipe 8<&- &
  pid=$!
  died=yes
  wait_until is_dead "$pid" || died=no
  # Let a stuck safe-append go (EPIPE) before anything can fail.
  exec 8<&-
  status=0
  wait "$pid" || status=$?
  umount small
  assert_equal "$died" yes
  assert_equal "$status" $((128 + 15))
}

@test "a terminating signal while stderr is a full pipe: the warning is dropped, not the signal" {
  mkfifo errpipe
  # Held open for reading and writing, and filled: nobody reads it.
  exec 8<>errpipe
  head -c 65536 /dev/zero >&8
  mkfifo p
  safe-append log <p 2>errpipe &
  pid=$!
  exec 7>p
  printf 'a\nb' >&7
  wait_until grep -qsx a log
  kill -TERM "$pid"
  wait_until is_dead "$pid"
  status=0
  wait "$pid" || status=$?
  exec 7>&- 8>&-
  assert_equal "$status" $((128 + 15))
  assert_equal "$(cat log)" a
}

# --- filesystems ------------------------------------------------------------------

@test "--check-fs prints the O_APPEND verdict" {
  run safe-append --check-fs .
  assert_success
  assert_line --regexp "^  O_APPEND +(safe|warn|refuse)"
}

@test "--check-fs on a read-only mount says so: O_APPEND is not called plainly safe" {
  require_root
  mkdir rw ro bind
  mount -t tmpfs -o ro,size=1m tmpfs ro || skip "cannot mount tmpfs"
  run safe-append --check-fs ro/log
  umount ro
  assert_success
  assert_line "  mounted read-only: every primitive below fails with EROFS"
  assert_line "  O_APPEND          safe, but it is mounted read-only"
  refute_line --regexp "^  [^ ]+ +safe\$"
  # A read-only bind mount of a writable tmpfs: the mount decides.
  mount -t tmpfs -o size=1m tmpfs rw || skip "cannot mount tmpfs"
  echo data >rw/log
  mount --bind rw bind && mount -o remount,bind,ro bind ||
    { umount bind rw 2>/dev/null; skip "cannot bind-mount read-only"; }
  run safe-append --check-fs bind/log
  bind_status=$status bind_output=$output
  run safe-append --check-fs rw/log
  umount bind rw
  assert_equal "$bind_status" 0
  [[ $bind_output == *"  O_APPEND          safe, but it is mounted read-only"* ]] ||
    fail "read-only bind mount: $bind_output"
  # The writable mount itself: no such line.
  assert_success
  assert_line "  O_APPEND          safe"
  refute_output --partial "read-only"
}

@test "FUSE: refused with status 3 unless --force" {
  mkdir src mnt
  bindfs_for_test src mnt
  run safe-append mnt/log -c text
  assert_failure 3
  assert_output --regexp "'mnt/log' is on fuse.*: appends from other hosts can interleave; use --force to go ahead anyway"
  run safe-append --force mnt/log -c forced
  assert_success
  assert_output --partial "warning: 'mnt/log' is on fuse"
  run safe-append -q --force mnt/log -c quiet
  assert_output ""
  assert_equal "$(cat src/log)" $'forced\nquiet'
}

# --- the tear test -------------------------------------------------------------------

# tear_run WRITERS LINES SNIPPET [FILTER]
# Starts WRITERS writers.  Each evaluates SNIPPET with $w set to its
# number and $gen to the arguments of 'tear-lines gen' for it (its
# number, LINES lines, the seed, and the barrier); they generate their
# lines, wait at the barrier, and are released together, all appending
# to 'log'.  Then counts the lines of 'log' (passed through FILTER):
# TEAR_INTACT, TEAR_TORN, TEAR_MISSING, TEAR_DUPLICATE.
tear_run() {
  local writers=$1 lines=$2 snippet=$3 filter=${4:-cat}
  local seed=$((RANDOM + 1)) ready go junk pids=()
  rm -f log ready go
  mkfifo ready go
  exec {ready}<>ready {go}<>go
  for ((w = 0; w < writers; w++)); do
    gen="-s $seed -b ready:go $w $lines"
    eval "$snippet" 3>&- &
    pids+=($!)
  done
  if ! read -r -t 300 -N "$writers" junk <&$ready; then
    kill "${pids[@]}" 2>/dev/null
    fail "tear harness: writers did not reach the barrier"
  fi
  printf "%${writers}s" '' >&$go
  local status=0
  wait "${pids[@]}" || status=$?
  exec {ready}>&- {go}>&-
  [ "$status" = 0 ] || fail "a writer failed (status $status)"
  local result
  result=$(eval "$filter" <log | tear-lines check -s "$seed" "$writers" "$lines") || true
  echo "seed $seed: $result"
  read -r TEAR_INTACT TEAR_TORN TEAR_MISSING TEAR_DUPLICATE \
    <<<"$(echo "$result" | sed 's/[a-z]*=//g')"
  [ -n "$TEAR_DUPLICATE" ] || fail "tear-lines check failed"
}

TEAR_WRITERS=8
TEAR_LINES=${TEAR_LINES:-1500}

@test "tear test: 8 writers x $TEAR_LINES lines of 1 B-64 KiB, fed in odd chunks: every line intact, once" {
  tear_run "$TEAR_WRITERS" "$TEAR_LINES" 'tear-lines gen $gen | safe-append log'
  assert_equal "$TEAR_TORN" 0
  assert_equal "$TEAR_MISSING" 0
  assert_equal "$TEAR_DUPLICATE" 0
  assert_equal "$TEAR_INTACT" $((TEAR_WRITERS * TEAR_LINES))
}

@test "tear test with prefixes and --tee: every line intact" {
  tear_run "$TEAR_WRITERS" 500 \
    'tear-lines gen $gen | safe-append --tee -t rfc3339 --prefix=w$w log >/dev/null' \
    "sed -E 's/^[^ ]+ w[0-9] //'"
  assert_equal "$TEAR_INTACT" $((TEAR_WRITERS * 500))
  assert_equal "$TEAR_TORN" 0
  assert_equal "$TEAR_MISSING" 0
  # Every line has its time and its writer's tag.
  assert_equal "$(grep -cvE '^[0-9T:.+-]+ w[0-7] ' log)" 0
}

@test "control: tee -a in the same harness tears lines" {
  tear_run "$TEAR_WRITERS" "$TEAR_LINES" 'tear-lines gen $gen | tee -a log >/dev/null'
  ((TEAR_TORN > 0)) || fail "tee -a never tore a line"
}

@test "control: a stdio-buffered writer in the same harness tears lines" {
  # A pause after each line (-d) lets the others write between the two
  # writes of a line that crosses the buffer's end.  Without it, under
  # make -j2 in CI each writer once ran to its end within its time
  # slice, one after another, and none tore.
  tear_run "$TEAR_WRITERS" "$TEAR_LINES" 'tear-lines gen -d 100 -o log $gen'
  ((TEAR_TORN > 0)) || fail "the stdio writer never tore a line"
}

@test "tear test, full size: 8 writers x 20,000 lines" {
  require_expensive
  tear_run "$TEAR_WRITERS" 20000 'tear-lines gen $gen | safe-append log'
  assert_equal "$TEAR_TORN" 0
  assert_equal "$TEAR_MISSING" 0
  assert_equal "$TEAR_DUPLICATE" 0
  assert_equal "$TEAR_INTACT" $((TEAR_WRITERS * 20000))
}

@test "control, full size: tee -a tears lines" {
  require_expensive
  tear_run "$TEAR_WRITERS" 20000 'tear-lines gen $gen | tee -a log >/dev/null'
  ((TEAR_TORN > 0)) || fail "tee -a never tore a line"
}
