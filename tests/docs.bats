#!/usr/bin/env bats
# docs: what every tool prints about itself (--version, the --help
# footer), the licence, and the manual pages.

load test_helper

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

@test "no placeholder bug-report address anywhere in the sources" {
  run grep -rIl --exclude-dir=.git -e 'example\.org' -e 'example\.com' \
    "$SRCDIR/src" "$SRCDIR/man" "$SRCDIR/README.md" "$SRCDIR/NEWS" \
    "$SRCDIR/configure.ac"
  assert_output ""
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
