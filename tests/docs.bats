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
