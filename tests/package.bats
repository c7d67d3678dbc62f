#!/usr/bin/env bats
# package: the Debian package builds from a checkout with
# 'dpkg-buildpackage -us -uc -b', lintian has nothing unexplained to say,
# and the .deb installs with dpkg -i and works from /usr/bin.
#
# Slow (a gnulib import, configure, build, lintian: minutes), so it runs
# only with RUN_PACKAGE_TESTS=yes or under CI (CI=true).  The package
# build skips its own run of the test suite (DEB_BUILD_OPTIONS=nocheck):
# 'make check' is running it already; PACKAGE_TEST_CHECK=yes runs it in
# the package build too.  The .deb is installed in a private mount
# namespace, over throwaway overlays of /usr and /var, so the machine
# running the test is left as it was.

load test_helper

setup_file() {
  if [ "${RUN_PACKAGE_TESTS:-no}" != yes ] && [ "${CI:-}" != true ]; then
    return
  fi
  SRCDIR=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
  PKG_WORK=$BATS_FILE_TMPDIR/pkg
  export SRCDIR PKG_WORK
  if ! command -v dpkg-buildpackage >/dev/null || ! command -v dh >/dev/null ||
     [ ! -d "$SRCDIR/.git" ] || [ ! -d "$SRCDIR/debian" ]; then
    return 0
  fi

  # A checkout of the tree as it is now (tracked and new files, without
  # what the build made): what a clone of the branch would hold, but for
  # .git, which the build does not use.
  mkdir -p "$PKG_WORK/atomicutils"
  (cd "$SRCDIR" && git ls-files -z --cached --others --exclude-standard |
     while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
     tar --null -T - -cf -) | tar -C "$PKG_WORK/atomicutils" -xf -
  (cd "$PKG_WORK/atomicutils" && find . \( -type f -o -type l \) -print | sort) \
    >"$PKG_WORK/checkout-files"
  local opts=nocheck
  [ "${PACKAGE_TEST_CHECK:-no}" = yes ] && opts=
  # (Not the make flags of the 'make check' that may be running us.)
  (cd "$PKG_WORK/atomicutils" &&
     env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
       DEB_BUILD_OPTIONS="$opts" DEB_BUILD_PROFILES="$opts" \
       dpkg-buildpackage -us -uc -b) >"$PKG_WORK/build.log" 2>&1
  echo $? >"$PKG_WORK/build.status"
}

setup() {
  common_setup
  if [ "${RUN_PACKAGE_TESTS:-no}" != yes ] && [ "${CI:-}" != true ]; then
    skip "slow: set RUN_PACKAGE_TESTS=yes to build the Debian package"
  fi
  if ! command -v dpkg-buildpackage >/dev/null || ! command -v dh >/dev/null; then
    skip "dpkg-dev and debhelper are not installed (scripts/install-deps)"
  fi
  [ -d "$SRCDIR/.git" ] || skip "not a git checkout (the package builds from one)"
  DEB=$(find "$PKG_WORK" -maxdepth 1 -name 'atomicutils_*.deb' | head -n 1)
}

@test "dpkg-buildpackage -us -uc -b builds the package from a git checkout" {
  if [ "$(cat "$PKG_WORK/build.status")" != 0 ]; then
    tail -n 60 "$PKG_WORK/build.log"
    fail "dpkg-buildpackage failed"
  fi
  [ -f "$DEB" ] || fail "no .deb was made"
  # 'debian/rules clean' leaves the checkout as it was: no file that was
  # not in it, and no empty directory.
  (cd "$PKG_WORK/atomicutils" && debian/rules clean) >/dev/null 2>&1
  run bash -c "cd '$PKG_WORK/atomicutils' &&
    find . \( -type f -o -type l \) -print | sort |
      comm -13 '$PKG_WORK/checkout-files' - &&
    find . -type d -empty -print"
  assert_output ""
}

@test "the .deb holds the tools, their manual pages, the completion and the copyright" {
  [ -f "$DEB" ] || skip "no .deb (see the first test)"
  run dpkg-deb -c "$DEB"
  local t
  for t in atomic-swap excl-create lockdir safe-append; do
    assert_line --regexp "^-rwxr-xr-x .* \./usr/bin/$t\$"
    assert_line --regexp " \./usr/share/man/man1/$t\.1\.gz\$"
    assert_line --regexp " \./usr/share/bash-completion/completions/$t( -> lockdir)?\$"
  done
  assert_output --partial "./usr/share/doc/atomicutils/copyright"
  assert_output --partial "./usr/share/doc/atomicutils/README.md"
}

@test "lintian: nothing but the tags debian/ explains" {
  [ -f "$DEB" ] || skip "no .deb (see the first test)"
  command -v lintian >/dev/null || skip "lintian is not installed"
  local changes
  changes=$(find "$PKG_WORK" -maxdepth 1 -name 'atomicutils_*.changes' | head -n 1)
  # --fail-on warning: errors and warnings fail; overridden tags (each
  # with its reason in debian/) do not.  Informational tags are shown.
  run lintian --fail-on error,warning --info --display-info "$changes"
  echo "$output"
  assert_success
  refute_line --regexp '^[EW]: '
}

@test "dpkg -i installs it, and lockdir --version runs from /usr/bin" {
  [ -f "$DEB" ] || skip "no .deb (see the first test)"
  [ "$(id -u)" -eq 0 ] || skip "needs root (dpkg -i in a private mount namespace)"
  unshare --mount --propagation private true 2>/dev/null ||
    skip "cannot make a private mount namespace here"
  local scratch=$BATS_TEST_TMPDIR/root before
  mkdir -p "$scratch"
  before=$(dpkg-query -W -f='${Status}' atomicutils 2>/dev/null || true)
  # shellcheck disable=SC2016 # expanded by the namespace's shell
  run unshare --mount --propagation private bash -c '
    set -e
    scratch=$1 deb=$2
    mount -t tmpfs tmpfs "$scratch"
    for d in usr var; do
      mkdir -p "$scratch/$d.upper" "$scratch/$d.work"
      mount -t overlay overlay \
        -o "lowerdir=/$d,upperdir=$scratch/$d.upper,workdir=$scratch/$d.work" "/$d"
    done
    dpkg -i "$deb"
    dpkg-query -W -f="\${Status}\n" atomicutils
    /usr/bin/lockdir --version
    for t in atomic-swap excl-create safe-append; do /usr/bin/$t --version | head -n 1; done
    man -w lockdir
    # bash-completion finds the completion of each tool by its name.
    bash -c "source /usr/share/bash-completion/bash_completion
             for t in atomic-swap excl-create lockdir safe-append; do
               _completion_loader \$t; complete -p \$t
             done"
    # The tools work as installed.
    cd "$scratch"
    /usr/bin/lockdir L /usr/bin/excl-create -c hello f
    cat f
  ' install "$scratch" "$DEB"
  echo "$output"
  assert_success
  assert_line "install ok installed"
  assert_line --regexp '^lockdir \(atomicutils\) [0-9.]+$'
  assert_line --regexp '^safe-append \(atomicutils\) [0-9.]+$'
  assert_line --partial "/usr/share/man/man1/lockdir.1.gz"
  assert_line "complete -F _atomicutils excl-create"
  assert_line "complete -F _atomicutils lockdir"
  assert_line "hello"
  # ... and the machine's own package database did not change.
  assert_equal "$(dpkg-query -W -f='${Status}' atomicutils 2>/dev/null || true)" "$before"
}
