#!/usr/bin/env bats
# docs: what every tool prints about itself (--version, the --help
# footer), the licence, and the manual pages.

load test_helper
load examples_helper

setup() {
  common_setup
  SRCDIR=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
  # The built tools are first on PATH (make check puts the build tree's
  # src/ there); the build tree holds the generated manual pages, or,
  # in a build from a release tarball, the source tree does.
  BINDIR=$(dirname "$(command -v lockdir)")
  BUILDDIR=$(cd "$BINDIR/.." && pwd)
  # Every tool has a help2man include file, man/TOOL.x.
  TOOLS=()
  local x
  for x in "$SRCDIR"/man/*.x; do
    TOOLS+=("$(basename "$x" .x)")
  done
  export EXAMPLE_TOOLS="${TOOLS[*]}"
}

# The generated page of TOOL, from the build tree or the source tree.
man_page() {
  if [ -f "$BUILDDIR/man/$1.1" ]; then
    echo "$BUILDDIR/man/$1.1"
  else
    echo "$SRCDIR/man/$1.1"
  fi
}

@test "every tool is documented: four tools, each with a page" {
  [ "${#TOOLS[@]}" -ge 4 ] || fail "only ${TOOLS[*]} have man/*.x"
  local t
  for t in "${TOOLS[@]}"; do
    [ -x "$BINDIR/$t" ] || fail "$t is not built in $BINDIR"
    [ -f "$(man_page "$t")" ] || fail "no manual page for $t"
  done
}

@test "--version names the tool as installed, whatever path ran it" {
  local t
  for t in "${TOOLS[@]}"; do
    # help2man runs the tool by its path in the build tree.
    run --separate-stderr "$BINDIR/$t" --version
    assert_success
    assert_line --index 0 --regexp "^$t \(atomicutils\) [0-9][0-9.]*$"
  done
}

@test "--version gives the project's copyright year, not gnulib's" {
  # The year of the sources' copyright notices (gnulib's version-etc
  # would print the year of the gnulib snapshot).
  local year
  year=$(sed -n 's/^ *Copyright (C) \([0-9]\{4\}\) The atomicutils authors\.$/\1/p' \
    "$SRCDIR/src/common.c")
  [ -n "$year" ] || fail "no copyright line in src/common.c"
  ((year >= 2026)) || fail "src/common.c says $year"
  local t
  for t in "${TOOLS[@]}"; do
    run --separate-stderr "$BINDIR/$t" --version
    assert_success
    assert_line --index 1 "Copyright (C) $year The atomicutils authors."
    assert_output --partial "License GPLv3+"
  done
}

@test "the --help footer points somewhere real and names the installed tool" {
  local t
  for t in "${TOOLS[@]}"; do
    run --separate-stderr "$BINDIR/$t" --help
    assert_success
    assert_line "Report bugs as the README.md of atomicutils says under \"Reporting bugs\"."
    assert_line "Full documentation: man $t"
    refute_output --partial "example.org"
    refute_output --partial "man $BINDIR"
    refute_output --partial "man ./"
  done
  # ... and the README has that section.
  grep -qx '## Reporting bugs' "$SRCDIR/README.md"
}

# The options of TOOL's getopt tables, one per line: "--NAME ARG" (ARG
# is "required" or "no"), and "-C ARG" for each short option.
source_options() {
  local src=$SRCDIR/src/$1.c table shorts
  table=$(sed -n '/long_options\[\] =/,/^};/p' "$src")
  if grep -q ETCD_LONG_OPTIONS <<<"$table"; then
    table+=$'\n'$(sed -n '/define ETCD_LONG_OPTIONS/,/^$/p' \
      "$SRCDIR/src/etcdopts.h")
  fi
  sed -n 's/.*{"\([a-z][-a-z]*\)", *\([a-z]*\)_argument.*/--\1 \2/p' <<<"$table"
  shorts=$(sed -n 's/.*getopt_long (argc, argv, "\([^"]*\)".*/\1/p
                   s/^#define SHORT_OPTIONS "\([^"]*\)"/\1/p' "$src" |
           head -n 1)
  shorts=${shorts#+}
  awk -v s="$shorts" 'BEGIN {
    for (i = 1; i <= length(s); i++) {
      c = substr(s, i, 1)
      if (c == ":") continue
      print "-" c, (substr(s, i + 1, 1) == ":" ? "required" : "no")
    } }'
}

@test "every option the code accepts is in --help and the man page, as it takes it" {
  local t opt arg help page missing=
  for t in "${TOOLS[@]}"; do
    help=$("$BINDIR/$t" --help)
    page=$(sed 's/\\-/-/g' "$(man_page "$t")")
    [ -n "$(source_options "$t")" ] || fail "$t: no getopt table found"
    while read -r opt arg; do
      # An option line of --help: "  -x, --long=ARG  text", "      --long".
      if [ "$arg" = required ]; then
        grep -qE -- "^ +(-., )?$opt(, --[a-z-]+)?[= ][A-Z]" <<<"$help" ||
          missing+=" $t:$opt=ARG"
      else
        grep -qE -- "^ +(-., )?$opt(,| +[^A-Z ]|$)" <<<"$help" ||
          missing+=" $t:$opt"
      fi
      grep -qF -- "$opt" <<<"$page" || missing+=" $t:$opt(man)"
    done < <(source_options "$t")
  done
  [ -z "$missing" ] || fail "not documented as the code takes it:$missing"
}

@test "no placeholder bug-report address anywhere in the sources" {
  run grep -rIl --exclude-dir=.git -e 'example\.org' -e 'example\.com' \
    "$SRCDIR/src" "$SRCDIR/man" "$SRCDIR/README.md" "$SRCDIR/NEWS" \
    "$SRCDIR/configure.ac"
  assert_output ""
}

@test "scripts/install-deps installs what the package build needs" {
  # tests/package.bats runs dpkg-buildpackage under CI, on a Debian 12
  # that has only what install-deps installed: every Build-Depends
  # (as DEB_BUILD_PROFILES=nocheck leaves them), build-essential, which
  # dpkg-checkbuilddeps always adds, and git, which makes the checkout.
  local deps p missing=
  # (debian/ is not in the release tarball that distcheck tests.)
  [ -f "$SRCDIR/debian/control" ] || skip "no debian/control here"
  deps=$(sed -n '/^Build-Depends:/,/^[A-Z]/p' "$SRCDIR/debian/control" |
    sed -e 's/^Build-Depends://' -e '/^[A-Z]/d' | tr ',' '\n' |
    grep -v '<!nocheck>' | sed -e 's/(.*)//' -e 's/[[:space:]]//g' |
    sed 's/^debhelper-compat$/debhelper/' | grep .)
  [ -n "$deps" ] || fail "no Build-Depends in debian/control"
  for p in $deps build-essential git; do
    grep -qE "(^|[ '\"])$p([ '\"]|$)" "$SRCDIR/scripts/install-deps" ||
      missing+=" $p"
  done
  [ -z "$missing" ] || fail "not installed by scripts/install-deps:$missing"
}

@test "README opens with two commands, setup with the demo and the test suite, which CI runs" {
  local top
  top=$(awk '/^```sh[ \t]*$/ { on = 1; next } on && /^```/ { exit } on' \
    "$SRCDIR/README.md" | sed 's/ *#.*//')
  assert_equal "$top" "$(printf '%s\n' './scripts/setup --demo' './scripts/check')"
  [ -x "$SRCDIR/scripts/setup" ] && [ -x "$SRCDIR/scripts/check" ] ||
    fail "scripts/setup or scripts/check is not executable"
  # CI runs that block as printed, not commands of its own.
  run grep -c 'readme_top' "$SRCDIR/.ci/run"
  [ "$output" -ge 2 ] || fail ".ci/run does not run the README's first block"
  run grep -E '^[^#]*scripts/(setup|check|install-deps)' "$SRCDIR/.ci/run"
  assert_output ""
}

@test ".ci/run runs the README's two commands, as printed, and nothing else" {
  # The test above reads the block with an awk of its own; here .ci/run
  # itself picks what it runs, in a copy of the tree whose scripts only
  # say they ran: a block put above the two commands, or a change in
  # how .ci/run finds its block, changes what ran, and fails here.
  mkdir -p tree/.ci tree/scripts
  cp "$SRCDIR/.ci/run" tree/.ci/run
  cp "$SRCDIR/README.md" tree/README.md
  local s
  for s in setup check; do
    printf '%s\n' '#!/bin/sh' "echo \"$s \$*\" >>\"\${0%/*}/../ran\"" \
      >"tree/scripts/$s"
    chmod +x "tree/scripts/$s"
  done
  run bash tree/.ci/run
  assert_success
  assert_equal "$(cat tree/ran)" "$(printf '%s\n' 'setup --demo' 'check ')"
}

@test ".ci/run fails when the README has no first sh block to run" {
  # A README whose block became ```shell (or went away) gave an empty
  # block: bash -c '' ran nothing, and CI passed with no test run.
  mkdir -p tree/.ci
  cp "$SRCDIR/.ci/run" tree/.ci/run
  printf '%s\n' '# atomicutils' '' '```shell' './scripts/check' '```' \
    >tree/README.md
  run bash tree/.ci/run
  assert_failure
  assert_output --partial "no sh block"
}

@test "COPYING holds the GNU GPL version 3" {
  [ -f "$SRCDIR/COPYING" ] || fail "no COPYING"
  run head -n 3 "$SRCDIR/COPYING"
  assert_output --partial "GNU GENERAL PUBLIC LICENSE"
  assert_output --partial "Version 3, 29 June 2007"
  if [ -f /usr/share/common-licenses/GPL-3 ]; then
    cmp "$SRCDIR/COPYING" /usr/share/common-licenses/GPL-3
  fi
}

@test "manual pages: REPORTING BUGS names no build path" {
  local t page
  for t in "${TOOLS[@]}"; do
    page=$(man_page "$t")
    run sed -n '/^\.SH "REPORTING BUGS"/,/^\.SH/p' "$page"
    assert_output --partial "Reporting bugs"
    assert_output --partial "man ${t//-/\\-}"
    refute_output --partial "src/"
    refute_output --partial "example.org"
  done
}

@test "manual page sources: no text line longer than 80 columns, outside examples and NAME" {
  # roff style: one sentence per line, and a long one broken at a
  # clause.  Lines printed as they are (.nf to .fi) and the one-line
  # NAME are exempt; so are requests and macros ('.').
  run awk '
    FNR == 1 { nofill = 0; section = "" }
    /^\[/ { section = $0 }
    /^\.nf/ { nofill = 1 }
    /^\.fi/ { nofill = 0 }
    !nofill && section != "[NAME]" && !/^\./ && length > 80 {
      print FILENAME ":" FNR ": " length " columns"
    }' "$SRCDIR"/man/*.x
  assert_success
  assert_output ""
}

# The text of section NAME ("EXIT STATUS") of PAGE, without its heading.
man_section() {
  awk -v want="$2" '
    /^\.SH / { h = substr($0, 5); gsub(/"/, "", h); on = (h == want); next }
    on' "$1"
}

@test "manual pages: exactly one EXIT STATUS section, holding the --help list" {
  local t page
  for t in "${TOOLS[@]}"; do
    page=$(man_page "$t")
    run grep -c '^\.SH "EXIT STATUS"$' "$page"
    assert_output 1
    # help2man would have left --help's paragraph as a subsection of
    # DESCRIPTION: it must have moved into the section.
    run grep -c '^\.SS "Exit status:"' "$page"
    assert_output 0
    run man_section "$page" "EXIT STATUS"
    assert_output --partial "usage error"
    assert_output --partial "system error"
  done
}

@test "manual pages: ENVIRONMENT and BUGS sections" {
  local t page
  for t in "${TOOLS[@]}"; do
    page=$(man_page "$t")
    run man_section "$page" ENVIRONMENT
    assert_output --partial "LC_ALL"
    run man_section "$page" BUGS
    [ "${#lines[@]}" -ge 3 ] || fail "$t: BUGS section missing or empty"
  done
}

@test "manual pages: every environment variable the sources use is documented" {
  # getenv/setenv names in src/TOOL.c belong to TOOL's page; in a shared
  # source file, to the page of the tool whose prefix they carry
  # (LOCKDIR_*), else to every page.  Any "LOCKDIR_*" string at all is
  # a variable of lockdir's.
  local f t t_prefix page var owner base missing=
  for f in "$SRCDIR"/src/*.c; do
    base=$(basename "$f" .c)
    while read -r var; do
      [ -n "$var" ] || continue
      owner=
      for t in "${TOOLS[@]}"; do
        if [ "$base" = "$t" ]; then owner=$t; fi
        t_prefix=$(echo "$t" | tr 'a-z-' 'A-Z_')_
        if [ -z "$owner" ] && [ "${var#"$t_prefix"}" != "$var" ]; then
          owner=$t
        fi
      done
      for t in "${TOOLS[@]}"; do
        [ -z "$owner" ] || [ "$owner" = "$t" ] || continue
        page=$(man_page "$t")
        man_section "$page" ENVIRONMENT | grep -q -- "$var" ||
          missing="$missing $t:$var"
      done
    done < <({ grep -o '\(getenv\|setenv\|secure_getenv\) *("[A-Za-z_][A-Za-z0-9_]*"' "$f" |
                 sed 's/.*("\(.*\)"/\1/'
               grep -o '"LOCKDIR_[A-Z0-9_]*"' "$f" | tr -d '"'; } | sort -u)
  done
  [ -z "$missing" ] || fail "not in the ENVIRONMENT section:$missing"
}

@test "manual pages: mandoc -Tlint finds nothing" {
  command -v mandoc >/dev/null || skip "mandoc is not installed"
  local t
  for t in "${TOOLS[@]}"; do
    run mandoc -Tlint "$(man_page "$t")"
    assert_success
    assert_output ""
  done
}

@test "manual pages: no font macro runs a sentence's words together" {
  # .BR, .IR and the like alternate fonts and join their arguments with
  # no space: text after '.BR "STANDARD OUTPUT" ).' came out as
  # "...OUTPUT).Themessagenames...".  The text goes on a line of its own.
  # (Quoted arguments are one argument each, spaces and all.)
  run awk '{ s = $0; gsub(/"[^"]*"/, "Q", s) }
    s ~ /^\.(BR|RB|IR|RI|BI|IB) .*[.,;:)] +[A-Za-z]+ +[A-Za-z]/ ||
    s ~ /^\.[BI] .*[.,;:)]  +[A-Za-z]/ { print FILENAME ":" FNR ": " $0 }' \
    "$SRCDIR"/man/*.x
  assert_output ""
}

@test "manual pages: the --help examples keep their lines" {
  # help2man would fill them into one paragraph, a comment running into
  # the next command; man/tidy.awk puts them back as printed.
  local t page text l
  for t in "${TOOLS[@]}"; do
    page=$(man_page "$t")
    text=$(man_section "$page" EXAMPLES |
      sed -e 's/\\-/-/g' -e 's/\\e/\\/g' -e 's/\\&//g')
    while IFS= read -r l; do
      grep -qxF -- "$l" <<<"$text" || fail "$t: not a line of EXAMPLES: $l"
    done < <("$BINDIR/$t" --help |
      awk '/^Examples:/ { on = 1; next } on && /^[ \t]*$/ { exit } on' |
      sed 's/^  //')
  done
}

@test "lockdir: the man page says what tells a stop at --max-runtime from COMMAND's own 124: -v's message" {
  local page text
  page=$(man_page lockdir)
  command -v mandoc >/dev/null || skip "mandoc is not installed"
  # As a reader sees it, on one line.
  text=$(mandoc -Tascii -O width=400 "$page" | col -b | tr -s ' \n' '  ')
  run lockdir -v --max-runtime=100ms L sleep 30
  assert_failure 124
  assert_line --index 1 "lockdir: the command under 'L' ran for 0.100 s (--max-runtime): sending SIGTERM to its process group"
  run lockdir --max-runtime=100ms L sleep 30
  assert_failure 124
  assert_output ""
  grep -qF -- "from a stop at --max-runtime only by the message of lockdir -v" \
    <<<"$text" || fail "the man page does not say that -v tells them apart"
}

# atomic-swap's DESCRIPTION as text: roff's \- and \(aq undone, and its
# lines joined, as the page folds long ones at a space.
swap_description_text() {
  man_section "$(man_page atomic-swap)" DESCRIPTION |
    sed -e 's/\\-/-/g' -e 's/\\(aq/'"'"'/g' | tr '\n' ' '
}

# Assert that --help (the last 'run') and the man page's DESCRIPTION
# (TEXT) both hold each string given.
assert_help_and_man_say() {
  local text=$1 said
  shift
  for said in "$@"; do
    assert_output --partial "$said"
    grep -qF -- "$said" <<<"$text" || fail "not in the man page: $said"
  done
}

@test "atomic-swap: --help and the man page say what -v prints in each form" {
  local text
  text=$(swap_description_text)
  mkdir d1 d2
  : >f
  run --separate-stderr atomic-swap -v d1 d2
  assert_output "'d1' <-> 'd2'"
  run --separate-stderr atomic-swap -v -s d1 link
  run --separate-stderr atomic-swap -v -s d2 link
  assert_output "'link' -> 'd2' (was 'd1')"
  run --separate-stderr atomic-swap -v -n f g
  assert_output "renamed 'f' -> 'g'"
  run --separate-stderr atomic-swap --help
  assert_help_and_man_say "$text" "'PATH1' <-> 'PATH2'" \
    "'LINK' -> 'TARGET' (was 'OLD')" "renamed 'SRC' -> 'DST'"
}

@test "atomic-swap: --help and the man page give each 2nd-form line -v prints: new, kept as LINK~, a directory kept" {
  local text
  text=$(swap_description_text)
  mkdir -p r/1 r/2 www
  run --separate-stderr atomic-swap -v -s r/1 cur
  assert_output "'cur' -> 'r/1' (new)"
  run --separate-stderr atomic-swap -v -b -s r/2 cur
  assert_output "'cur' -> 'r/2' (was 'r/1', kept as 'cur~')"
  run --separate-stderr atomic-swap -v --exchange-dir -s r/1 www
  [[ $output =~ ^\'www\'\ -\>\ \'r/1\'\ \(was\ a\ directory,\ kept\ as\ \'www\.atomic-swap-backup\.[A-Za-z0-9]{6}\'\)$ ]] ||
    fail "unexpected: $output"
  run --separate-stderr atomic-swap --help
  assert_help_and_man_say "$text" "'LINK' -> 'TARGET' (new)" \
    "(was 'OLD', kept as 'LINK~')" "(was a directory, kept as 'NAME')"
}

# The block of the examples of SOURCE ("atomic-swap man") that holds
# TEXT, as the examples harness runs it (roff escapes undone, comments
# removed); nothing if there is none.
example_block_with() {
  # shellcheck disable=SC2086 # "TOOL KIND" is two words
  examples_blocks $1 | awk -v want="$2" '
    /^@@/ { if (found) exit; block = ""; next }
    { block = block $0 "\n"; if (index($0, want)) found = 1 }
    END { if (found) printf "%s", block }'
}

@test "atomic-swap: the man page's rollback to what -p printed, run as printed from another directory, leaves a link that resolves" {
  require_root
  local block
  # shellcheck disable=SC2016 # $old as printed
  block=$(example_block_with "atomic-swap man" 'atomic-swap -s "$old" /srv/app/current')
  [ -n "$block" ] || fail "no such example in man/atomic-swap.x"
  mkdir elsewhere
  # A /srv of our own, as the examples' sandbox has; the block runs in
  # another directory than LINK's.
  run unshare --mount --propagation private bash -c '
    mount -t tmpfs tmpfs /srv || exit 99
    mkdir -p /srv/app/releases/41 /srv/app/releases/42
    (cd elsewhere && bash -e -c "$1") || exit
    readlink /srv/app/current
    [ -d /srv/app/current/ ] && echo resolves' sh "$block"
  assert_success
  assert_output "$(printf 'releases/41\nresolves')"
}

@test "atomic-swap: the man page's retried -b deploy, run twice as printed, keeps the rollback point in current~" {
  local block
  # shellcheck disable=SC2016 # $old as printed
  block=$(example_block_with "atomic-swap man" '--expect="$old" releases/44 current')
  [ -n "$block" ] || fail "no such example in man/atomic-swap.x"
  mkdir -p releases/43 releases/44
  ln -s releases/43 current
  run bash -e -c "$block"
  assert_success
  run bash -e -c "$block"
  assert_success
  assert_equal "$(readlink current)" releases/44
  assert_equal "$(readlink current~)" releases/43
  # What the page warns of: a plain retry loses it.
  atomic-swap -b -s releases/44 current
  assert_equal "$(readlink current~)" releases/44
}

@test "atomic-swap: the man page's retried -b deploy, run as printed under set -e on a first deploy (no current), makes current" {
  local block
  # shellcheck disable=SC2016 # $old as printed
  block=$(example_block_with "atomic-swap man" '--expect="$old" releases/44 current')
  [ -n "$block" ] || fail "no such example in man/atomic-swap.x"
  mkdir -p releases/44
  run bash -e -c "$block"
  assert_success
  assert_equal "$(readlink current)" releases/44
  [ ! -e current~ ] && [ ! -L current~ ]
  run bash -e -c "$block"
  assert_success
  assert_equal "$(readlink current)" releases/44
}

# --- the examples the documentation shows ---------------------------
#
# Every example command of README.md, of each tool's --help and of each
# man/TOOL.x runs here as printed, in a sandbox (tests/examples_helper.bash
# says how, and what counts as a failure).  New examples need no edit
# here: they are found where they are written.

# Problems already known and being fixed elsewhere, as extended regular
# expressions over the problem lines; they turn a failure into a skip
# that names them.  Remove a line when its fix is merged.
# (Issue 12's line went when excl-create -w took its value as required:
# it turned that very regression into a skip.)
KNOWN_EXAMPLE_DEFECTS=()

# The calls meant to exit with a status other than 0 where they run
# here (one after the other, in a fresh sandbox), as "WHERE: STATUS
# CALL" (tests/examples_helper.bash); every other call of a tool must
# exit 0, so that one broken into a mere "no" or "busy" fails.
EXAMPLE_STATUSES=(
  # --status of a lock nobody holds: 1, "free".
  'README: 1 lockdir --status --json /run/lock/backup'
  'README: 1 lockdir --status --json deploy/web'
  'lockdir --help: 1 lockdir --status --json /run/lock/backup'
  'lockdir man: 1 lockdir --status --json data.lock'
  'lockdir man: 1 lockdir --status --json /run/lock/backup'
  # The pid file claimed lines before is live, not stale: "or stop".
  'README: 1 excl-create --pid --replace-stale /run/job.pid'
  'excl-create --help: 1 excl-create --pid --replace-stale /run/job.pid'
)

require_sandbox() {
  examples_sandbox_args >/dev/null ||
    skip "cannot make a private mount namespace here (needs root or user namespaces)"
}

# Run the examples of each SOURCE ("README", "TOOL --help", "TOOL man");
# fail on any problem not known.
examples_test() {
  require_sandbox
  local problems='' known=() unknown=() p re source
  for source in "$@"; do
    # shellcheck disable=SC2086 # "TOOL KIND" is two words
    problems+=$(examples_check $source)$'\n'
  done
  while IFS= read -r p; do
    [ -n "$p" ] || continue
    # Left out where etcd cannot run: a skip that says which.
    if [[ $p == *": a block left out ("* ]]; then
      known+=("$p")
      continue
    fi
    for re in "${KNOWN_EXAMPLE_DEFECTS[@]}"; do
      if [[ $p =~ $re ]]; then
        known+=("$p")
        continue 2
      fi
    done
    unknown+=("$p")
  done <<<"$problems"
  if ((${#unknown[@]} > 0)); then
    printf '%s\n' "${unknown[@]}" "${known[@]}" >&2
    fail "${#unknown[@]} example(s) do not run as printed"
  fi
  if ((${#known[@]} > 0)); then
    skip "known defect or left out: ${known[*]}"
  fi
}

@test "examples run as printed: README.md" {
  examples_test README
}

@test "examples run as printed: atomic-swap --help and man page" {
  examples_test "atomic-swap --help" "atomic-swap man"
}

@test "examples run as printed: excl-create --help and man page" {
  examples_test "excl-create --help" "excl-create man"
}

@test "examples run as printed: lockdir --help and man page" {
  examples_test "lockdir --help" "lockdir man"
}

@test "examples run as printed: safe-append --help and man page" {
  examples_test "safe-append --help" "safe-append man"
}

@test "examples harness: every call EXAMPLE_STATUSES names is in an example of its source" {
  # An entry left behind when its example changed would wait, unseen,
  # to excuse a new example that happened to be printed the same.
  local stale
  stale=$(examples_stale_statuses)
  [ -z "$stale" ] || fail "not in an example of its source:"$'\n'"$stale"
}

@test "examples harness (control): an EXAMPLE_STATUSES entry that names part of a call is stale" {
  # Its call is on a line of the source, but no call is printed so:
  # the entry matches nothing, and must not pass unseen.
  EXAMPLE_STATUSES=('README: 1 excl-create --pid'
    'README: 1 excl-create --pid --replace-stale /run/job.pid'
    'README: 1 lockdir --status --json deploy/we')
  run examples_stale_statuses
  assert_output "$(printf '%s\n' 'README: 1 excl-create --pid' \
    'README: 1 lockdir --status --json deploy/we')"
}

@test "examples harness: every tool's --help and page has examples" {
  local t
  for t in "${TOOLS[@]}"; do
    run examples_blocks "$t" --help
    printf '%s\n' "$output" | examples_calls_tool || fail "$t --help shows no example"
    run examples_blocks "$t" man
    printf '%s\n' "$output" | examples_calls_tool || fail "man/$t.x shows no example"
  done
}

@test "examples harness: --help's Examples end where its footer begins" {
  # The examples are the lines after "Examples:" up to the first blank
  # line: a blank line among them would leave the rest unrun, unseen.
  local t
  for t in "${TOOLS[@]}"; do
    run bash -c "'$BINDIR/$t' --help |
      awk '/^Examples:/ { on = 1; next } on && !NF { rest = 1; next } rest'"
    assert_output "$(printf '%s\n' \
      'Report bugs as the README.md of atomicutils says under "Reporting bugs".' \
      "Full documentation: man $t")"
  done
}

# The lines of README.md that call a tool in a code block that is not
# run: a fenced block that is not ```sh, or an indented one.
readme_unrun_calls() {
  awk -v tools="$EXAMPLE_TOOLS" '
    BEGIN { gsub(/ +/, "|", tools)
            call = "(^|[^-[:alnum:]_./])(" tools ")([[:space:]]|$)" }
    /^```/ { if (!on) { on = 1; lang = substr($0, 4) } else on = 0
             indented = blank = 0; next }
    on && lang !~ /^sh[ \t]*$/ && $0 ~ call { print FNR ": " $0 }
    on { next }
    # An indented block opens after a blank line and goes on, over blank
    # lines, while its lines are indented: every line of it is checked.
    /^[ \t]*$/ { blank = 1; next }
    { indented = /^(    |\t)/ && (indented || blank); blank = 0 }
    indented && $0 ~ call { print FNR ": " $0 }' "$SRCDIR/README.md"
}

@test "examples harness: every README code block that calls a tool is a sh block" {
  # Only sh blocks are run: a tool called in a bash, shell, console or
  # unnamed block, or in an indented one, would go unrun.
  run readme_unrun_calls
  assert_output ""
}

@test "examples harness: a tool on any line of an indented README block is found" {
  # Only the first line of an indented block used to be looked at.
  SRCDIR=$BATS_TEST_TMPDIR/src
  mkdir -p "$SRCDIR"
  printf '%s\n' '# t' '' 'Deploy:' '' '    cd /srv/app' \
    '    atomic-swap -s releases/42 current' '' \
    '    lockdir -u L' 'Text again, lockdir in prose.' \
    '   lockdir in a paragraph' >"$SRCDIR/README.md"
  run readme_unrun_calls
  assert_output "$(printf '%s\n' '6:     atomic-swap -s releases/42 current' \
    '8:     lockdir -u L')"
}

# Write $SRCDIR/man/lockdir.x with a [QUEUE] block showing COMMAND, a
# block showing a message, and one showing a configuration file.
man_outside_examples() {
  mkdir -p "$SRCDIR/man"
  printf '%s\n' '[QUEUE]' 'Who waits:' .PP .nf .RS "$1" .RE .fi .PP \
    'The message:' .PP .nf .RS "lockdir: 'L' is held by pid 1" .RE .fi \
    '[LOG ROTATION]' .nf '/var/log/x.log {' '    postrotate' \
    '        pkill \-HUP \-x lockdir || true' '    endscript' '}' .fi \
    >"$SRCDIR/man/lockdir.x"
}

@test "examples harness: a man page's commands outside EXAMPLES run too" {
  # A section of its own may show a command (lockdir's QUEUE and SHARED
  # HOLDERS do); a block that shows a message or a configuration file,
  # where a tool's name is no command, is not run.
  SRCDIR=$BATS_TEST_TMPDIR/src
  man_outside_examples 'lockdir \-\-status \-\-json data.lock | jq .'
  cat >>"$SRCDIR/man/lockdir.x" <<'EOF'
[EXAMPLES]
.nf
lockdir \-n L true
.fi
EOF
  run examples_blocks lockdir man
  assert_output "$(printf '%s\n' 'lockdir --status --json data.lock | jq .' @@ \
    'lockdir -n L true' @@)"
}

@test "examples harness: a man page's block outside EXAMPLES with a misspelt tool is reported" {
  # A block whose only command is a misspelt tool did not look like a
  # command, so it was neither run nor checked.
  SRCDIR=$BATS_TEST_TMPDIR/src
  man_outside_examples 'lockdri \-\-status \-\-json data.lock | jq .'
  run examples_check lockdir man
  assert_line "lockdir man: a block not run: 'lockdri' is no tool: lockdir misspelt?"
  assert_line "lockdir man: no examples found"
  [ "${#lines[@]}" -eq 2 ] || fail "more problems than expected"
}

@test "examples harness (control): a usage error, an unreached line, a stray file, a hang, a misspelt tool" {
  require_sandbox
  local dir
  dir=$(mktemp -d "$BATS_TEST_TMPDIR/control.XXXXXX")
  # A usage error.
  printf '%s\n' 'excl-create --no-such-option f' >"$dir/block.1"
  # A line that is never reached.
  printf '%s\n' 'exit 0' 'lockdir -n L true' >"$dir/block.2"
  # An option's value taken as a file name (what '-w 10s' did).
  printf '%s\n' ': >10s; excl-create f' >"$dir/block.3"
  # A block that hangs.
  printf '%s\n' 'lockdir L sleep 30' >"$dir/block.4"
  # And one that is fine: a deploy with the sandbox's tree.
  printf '%s\n' 'atomic-swap -s releases/41 current' >"$dir/block.5"
  # A misspelt tool, which would get a stub as a program of the user's.
  printf '%s\n' 'atomic-swp -s releases/41 current' 'lockdir -n L true' \
    >"$dir/block.6"
  # 5 s per block: block 4 is caught hanging, and the others have time
  # to finish on a loaded machine.
  EXAMPLE_TIMEOUT=5 run examples_run_blocks "$dir" 6
  assert_line --partial "block 1, line 1: excl-create exited with status 2"
  assert_line --partial "block 2, line 2 never ran: lockdir -n L true"
  assert_line --partial "block 3, a file named '10s' appeared"
  assert_line --partial "block 4, hung"
  refute_line --partial "block 5"
  assert_line --partial "block 6, 'atomic-swp' is no tool: atomic-swap misspelt?"
}

@test "examples harness (control): an example's tool exits 0, or the status EXAMPLE_STATUSES gives its line" {
  require_sandbox
  local dir
  dir=$(mktemp -d "$BATS_TEST_TMPDIR/control.XXXXXX")
  # Broken examples that merely say "no" (1) or "busy" (75).
  printf '%s\n' 'excl-create f' 'excl-create f' 'lockdir L' \
    'lockdir -n L true' >"$dir/block.1"
  # The same, and one that says "done", where the table expects "no".
  printf '%s\n' 'excl-create g' 'excl-create -- g' 'excl-create h' \
    >"$dir/block.2"
  EXAMPLE_STATUSES=('control: 1 excl-create -- g' 'control: 1 excl-create h'
    'elsewhere: 1 excl-create f')
  run examples_run_blocks "$dir" 2 control
  assert_output "$(printf '%s\n' \
    'block 1, line 2: excl-create exited with status 1 (expected 0): excl-create f' \
    'block 1, line 4: lockdir exited with status 75 (expected 0): lockdir -n L true' \
    'block 2, line 3: excl-create exited with status 0 (expected 1): excl-create h')"
}

@test "examples harness: a block not run for a misspelt tool is reported" {
  SRCDIR=$BATS_TEST_TMPDIR/src
  mkdir -p "$SRCDIR"
  printf '%s\n' '```sh' 'excl-creat --pid job.pid' '```' \
    '```sh' './configure && make' '```' >"$SRCDIR/README.md"
  run examples_check README
  assert_line "README: a block not run: 'excl-creat' is no tool: excl-create misspelt?"
  assert_line "README: no examples found"
  [ "${#lines[@]}" -eq 2 ] || fail "more problems than expected"
}

@test "examples harness: a block left out for want of etcd is said, not passed over" {
  SRCDIR=$BATS_TEST_TMPDIR/src
  mkdir -p "$SRCDIR"
  printf '%s\n' '```sh' 'export LOCKDIR_ETCD=http://etcd1:2379' \
    'lockdir -n deploy/web true' '```' >"$SRCDIR/README.md"
  # As where etcd or ip(8) is not installed.
  examples_etcd_available() { return 1; }
  run examples_check README
  assert_line "README: a block left out (it needs etcd and ip, not installed here): export LOCKDIR_ETCD=http://etcd1:2379"
}

@test "examples harness (control): EXAMPLE_STATUSES sets the status of the call it names, not of every call on its line" {
  require_sandbox
  local dir
  dir=$(mktemp -d "$BATS_TEST_TMPDIR/control.XXXXXX")
  # Line 2 means its first call to say "no" (1); the second is broken
  # into a "no" as well, which the entry for the first must not excuse.
  printf '%s\n' 'excl-create f' 'excl-create -- f || excl-create f' \
    'x=$(excl-create -- f) || excl-create g' >"$dir/block.1"
  EXAMPLE_STATUSES=('control: 1 excl-create -- f')
  run examples_run_blocks "$dir" 1 control
  assert_output 'block 1, line 2: excl-create exited with status 1 (expected 0): excl-create -- f || excl-create f (the call: excl-create f)'
}

@test "examples harness (control): a tool run by timeout, xargs or lockdir that fails is caught" {
  require_sandbox
  local dir
  dir=$(mktemp -d "$BATS_TEST_TMPDIR/control.XXXXXX")
  # Each second call finds its file made: "no", where it should work.
  printf '%s\n' 'timeout 10 excl-create f' 'timeout 10 excl-create f' \
    'echo g | xargs excl-create' 'echo g | xargs excl-create' \
    'lockdir L excl-create h' 'lockdir L excl-create h' \
    'timeout 10 sleep 0' >"$dir/block.1"
  run examples_run_blocks "$dir" 1
  assert_output "$(printf '%s\n' \
    'block 1, line 2: timeout exited with status 1 (expected 0): timeout 10 excl-create f' \
    'block 1, line 4: xargs exited with status 123 (expected 0): echo g | xargs excl-create (the call: xargs excl-create)' \
    'block 1, line 6: lockdir exited with status 1 (expected 0): lockdir L excl-create h')"
}

@test "examples harness (control): a tool run by env, nice or nohup that fails is caught" {
  # They were only seen to reach the tool (the wrapper on PATH): a
  # call broken into a mere "no" passed.
  require_sandbox
  local dir
  dir=$(mktemp -d "$BATS_TEST_TMPDIR/control.XXXXXX")
  printf '%s\n' 'env X=1 excl-create f' 'env X=1 excl-create f' \
    'nice -n 5 excl-create g' 'nice -n 5 excl-create g' \
    'nohup excl-create h' 'nohup excl-create h' 'env X=1 true' \
    >"$dir/block.1"
  run examples_run_blocks "$dir" 1
  assert_output "$(printf '%s\n' \
    'block 1, line 2: env exited with status 1 (expected 0): env X=1 excl-create f' \
    'block 1, line 4: nice exited with status 1 (expected 0): nice -n 5 excl-create g' \
    'block 1, line 6: nohup exited with status 1 (expected 0): nohup excl-create h')"
}

@test "examples harness (control): a tool run by setsid, stdbuf, ionice, chrt, sh -c or bash -c that fails is caught" {
  # They were only seen to reach the tool (the wrapper on PATH), as
  # env, nice and nohup were: a call broken into a mere "no" passed.
  require_sandbox
  local dir
  dir=$(mktemp -d "$BATS_TEST_TMPDIR/control.XXXXXX")
  printf '%s\n' 'setsid -w excl-create f' 'setsid -w excl-create f' \
    'stdbuf -oL excl-create g' 'stdbuf -oL excl-create g' \
    'ionice -c 3 excl-create h' 'ionice -c 3 excl-create h' \
    'chrt -o 0 excl-create i' 'chrt -o 0 excl-create i' \
    "sh -c 'excl-create j'" "sh -c 'excl-create j'" \
    "bash -c 'excl-create k'" "bash -c 'excl-create k'" 'stdbuf -oL true' \
    >"$dir/block.1"
  run examples_run_blocks "$dir" 1
  assert_output "$(printf '%s\n' \
    'block 1, line 2: setsid exited with status 1 (expected 0): setsid -w excl-create f' \
    'block 1, line 4: stdbuf exited with status 1 (expected 0): stdbuf -oL excl-create g' \
    'block 1, line 6: ionice exited with status 1 (expected 0): ionice -c 3 excl-create h' \
    'block 1, line 8: chrt exited with status 1 (expected 0): chrt -o 0 excl-create i' \
    "block 1, line 10: sh exited with status 1 (expected 0): sh -c 'excl-create j'" \
    "block 1, line 12: bash exited with status 1 (expected 0): bash -c 'excl-create k'")"
}

@test "examples harness: a line whose runner exits without running its tool never ran" {
  # A runner's own record was taken for its tool reached: xargs -r
  # given no input runs nothing, and exits 0.
  require_sandbox
  local dir
  dir=$(mktemp -d "$BATS_TEST_TMPDIR/control.XXXXXX")
  printf '%s\n' 'true | xargs -r excl-create f' "sh -c 'exit 0; excl-create g'" \
    >"$dir/block.1"
  run examples_run_blocks "$dir" 1
  assert_output "$(printf '%s\n' \
    'block 1, line 1 never ran: true | xargs -r excl-create f' \
    "block 1, line 2 never ran: sh -c 'exit 0; excl-create g'")"
}

@test "examples harness: what an example leaves running ends with the sandbox" {
  require_sandbox
  local dir
  dir=$(mktemp -d "$BATS_TEST_TMPDIR/control.XXXXXX")
  # An odd duration, that no other process on the machine sleeps.
  printf '%s\n' "sleep 1000.271 & excl-create f" >"$dir/block.1"
  run examples_run_blocks "$dir" 1
  assert_output ""
  run pgrep -f '^sleep 1000\.271$'
  assert_failure
}

@test "examples harness: a tool run by another program counts as reached" {
  require_sandbox
  local dir
  dir=$(mktemp -d "$BATS_TEST_TMPDIR/control.XXXXXX")
  printf '%s\n' 'timeout 10 excl-create f' 'lockdir L excl-create g' \
    'stdbuf -oL excl-create h' 'true' >"$dir/block.1"
  run examples_run_blocks "$dir" 1
  assert_output ""
  [ -f "$dir/cwd/f" ] && [ -f "$dir/cwd/g" ] && [ -f "$dir/cwd/h" ] ||
    fail "the tools did not run"
}

@test "examples harness: a tool reached only through the wrapper on PATH is said to be on its own line" {
  # The DEBUG trap's text ran over lines, and LINENO counts them: the
  # wrapper said each call was one line further down.  A line reached
  # was taken for one never reached, and the line after it for one
  # reached, whether it ran or not.
  require_sandbox
  local dir
  dir=$(mktemp -d "$BATS_TEST_TMPDIR/control.XXXXXX")
  printf '%s\n' 'stdbuf -oL excl-create f' 'exit 0' 'stdbuf -oL excl-create g' \
    >"$dir/block.1"
  run examples_run_blocks "$dir" 1
  assert_output 'block 1, line 3 never ran: stdbuf -oL excl-create g'
}
