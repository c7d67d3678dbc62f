#!/usr/bin/env bats
# completion: the bash completion of the four tools, sourced into bash
# and driven the way readline drives it.

load test_helper

setup() {
  common_setup
  COMPLETION=$BATS_TEST_DIRNAME/../completion/atomicutils.bash
  # shellcheck source=completion/atomicutils.bash
  source "$COMPLETION"
}

# complete LINE: split LINE into words as bash does for completion
# (blanks separate words, "=" is a word of its own), complete its last
# word (empty if LINE ends in a blank) with the function registered for
# the first word, and leave the candidates in REPLY_LINES, one per line.
complete_line() {
  local line=$1 word
  local -a words=()
  for word in $line; do
    if [[ $word == --*=* ]]; then
      words+=("${word%%=*}" "=")
      [[ -n ${word#*=} ]] && words+=("${word#*=}")
    else
      words+=("$word")
    fi
  done
  [[ $line == *' ' || $line == *= ]] && words+=("")
  [[ $line == *= ]] && [[ ${words[-2]} == = ]] && unset 'words[-1]'
  COMP_WORDS=("${words[@]}")
  COMP_CWORD=$((${#words[@]} - 1))
  COMP_LINE=$line
  COMP_POINT=${#line}
  local spec func
  spec=$(complete -p "${words[0]}")
  func=${spec#*-F }
  func=${func%% *}
  COMPREPLY=()
  # As readline calls it: not under bats' errexit.
  "$func" "${words[0]}" "${words[COMP_CWORD]}" "${words[COMP_CWORD - 1]}" || true
  REPLY_LINES=$(printf '%s\n' "${COMPREPLY[@]}")
}

assert_candidate() {
  grep -qxF -- "$1" <<<"$REPLY_LINES" ||
    fail "'$1' not among the candidates: ${REPLY_LINES//$'\n'/ }"
}

refute_candidate() {
  ! grep -qxF -- "$1" <<<"$REPLY_LINES" ||
    fail "'$1' is among the candidates: ${REPLY_LINES//$'\n'/ }"
}

@test "all four tools have the completion" {
  local t
  for t in atomic-swap excl-create lockdir safe-append; do
    run complete -p "$t"
    assert_success
    assert_output --partial "-F _atomicutils"
  done
}

@test "long options come from --help: every one is offered" {
  local t opt
  for t in atomic-swap excl-create lockdir safe-append; do
    complete_line "$t --"
    # Each long option --help lists, as an option line.
    for opt in $("$t" --help | sed -n 's/^ \{1,10\}\(-., \)\{0,1\}\(--[a-z][-a-z]*\).*/\2/p'); do
      if "$t" --help | grep -q -- "^ *\(-., \)\{0,1\}$opt=[A-Z]"; then
        assert_candidate "$opt="
      else
        assert_candidate "$opt"
      fi
    done
  done
}

@test "an option prefix completes to the option, with '=' for a value" {
  complete_line "lockdir --time"
  assert_equal "$REPLY_LINES" "--timeout="
  complete_line "atomic-swap --exp"
  assert_equal "$REPLY_LINES" "--expect="
  complete_line "safe-append --wh"
  assert_equal "$REPLY_LINES" "--whole"
}

@test "durations: units after a number, common values otherwise" {
  complete_line "lockdir -w 1"
  assert_candidate 1ms
  assert_candidate 1s
  assert_candidate 1m
  assert_candidate 1h
  assert_candidate 1d
  complete_line "lockdir --timeout="
  assert_candidate inf
  assert_candidate 10s
  complete_line "lockdir --max-runtime=5"
  assert_candidate 5m
  complete_line "excl-create --wait=i"
  assert_equal "$REPLY_LINES" "$(printf '%s\n' inf infinity)"
  # 'infinity', which --help names beside 'inf', is offered too.
  complete_line "lockdir -k infi"
  assert_equal "$REPLY_LINES" "infinity"
  # A short option's value in the same word as another option.
  complete_line "lockdir -nw 3"
  assert_candidate 3s
}

@test "sizes and modes" {
  complete_line "safe-append --max-record=64"
  assert_candidate 64K
  complete_line "excl-create -m 6"
  assert_candidate 600
  assert_candidate 644
}

@test "a timestamp FORMAT: rfc3339, which --help names, is offered" {
  complete_line "safe-append -t rf"
  assert_equal "$REPLY_LINES" "rfc3339"
  complete_line "safe-append --timestamp="
  assert_candidate rfc3339
}

@test "operands are file names" {
  mkdir releases
  : >releases/notes
  : >report.log
  : >report.txt
  complete_line "excl-create rep"
  assert_candidate report.log
  assert_candidate report.txt
  complete_line "atomic-swap -s rel"
  assert_candidate releases
  complete_line "safe-append -z report.l"
  assert_equal "$REPLY_LINES" "report.log"
  # After an option that takes a value, the value is not an operand.
  complete_line "lockdir -w 10s rep"
  assert_candidate report.log
}

@test "lockdir: the word after LOCK is a command, options there are its own" {
  complete_line "lockdir -n /tmp/L sle"
  assert_candidate sleep
  complete_line "lockdir --timeout=5m /tmp/L sle"
  assert_candidate sleep
  complete_line "lockdir -w 5m /tmp/L sle"
  assert_candidate sleep
  # Past COMMAND, lockdir's own options are not offered.
  complete_line "lockdir /tmp/L sleep --"
  refute_candidate "--timeout="
}

@test "after --, words are operands even if they start with -" {
  complete_line "excl-create -- --"
  refute_candidate "--mode="
}

@test "with bash-completion loaded, COMMAND's own completion takes over" {
  local bc=/usr/share/bash-completion/bash_completion
  [ -f "$bc" ] || skip "bash-completion is not installed"
  # bash_completion expects an interactive shell's defaults.
  set +eu
  # shellcheck source=/dev/null
  source "$bc"
  # shellcheck source=completion/atomicutils.bash
  source "$COMPLETION"
  set -e
  complete_line "lockdir -n /tmp/L ls --al"
  assert_candidate --all
  complete_line "lockdir --ti"
  assert_equal "$REPLY_LINES" "--timeout="
  complete_line "lockdir -w 2"
  assert_candidate 2m
}
