# bash completion for atomicutils: atomic-swap, excl-create, lockdir,
# safe-append.                                          -*- shell-script -*-
# shellcheck shell=bash
#
# Installed once per tool name in bash-completion's completionsdir (the
# other names are symbolic links), so that bash-completion loads it on
# the first completion of any of them; sourcing it directly works too.
#
# Options, and which of them take a value, are read from the tool's own
# --help, so a new option needs no change here.  Values are completed by
# the name --help gives them: DURATION, SIZE, MODE, PID, FORMAT, N; file
# names otherwise.  lockdir's COMMAND is completed as a command line of
# its own.

# Print TOOL's options, one per line: "NAME ARG" where NAME is -x or
# --long, and ARG is the value's name from --help ("-" for none; a
# value that is optional, --opt[=ARG], is given as "[ARG]").
_atomicutils_parse_help()
{
    LC_ALL=C "$1" --help 2>/dev/null | awk '
        /^ +-/ && match($0, /^ +/) && RLENGTH <= 10 {
            spec = $0
            sub(/^ +/, "", spec)
            sub(/  .*/, "", spec)        # the description starts after two spaces
            n = split(spec, part, /, */)
            arg = "-"
            for (i = 1; i <= n; i++) {
                if (part[i] ~ /^--[^=[]+\[=/) {
                    arg = part[i]; sub(/^[^[]*\[=/, "", arg); sub(/\]$/, "", arg)
                    arg = "[" arg "]"
                } else if (part[i] ~ /^--[^=]+=/) {
                    arg = part[i]; sub(/^[^=]*=/, "", arg)
                }
            }
            for (i = 1; i <= n; i++) {
                name = part[i]
                sub(/[[=].*/, "", name)
                if (name ~ /^-(-[A-Za-z0-9][-A-Za-z0-9]*|[A-Za-z0-9])$/)
                    print name, arg
            }
        }'
}

# Fill the cache of TOOL's options (one --help per tool and shell).
declare -gA _atomicutils_opts=()
_atomicutils_options()
{
    local tool=${1##*/}
    if [[ -z ${_atomicutils_opts[$tool]+set} ]]; then
        _atomicutils_opts[$tool]=$(_atomicutils_parse_help "$1")
    fi
    printf '%s\n' "${_atomicutils_opts[$tool]}"
}

# The value name ARG of option OPT of TOOL, or nothing if OPT takes no
# value (or is unknown).  A long option may be abbreviated.
_atomicutils_option_arg()
{
    local tool=$1 opt=$2 name arg found=
    while read -r name arg; do
        if [[ $name == "$opt" ]]; then
            found=$arg
            break
        fi
        if [[ $opt == --* && $name == "$opt"* ]]; then
            # An abbreviation: use it only if it is unambiguous.
            [[ -n $found ]] && return
            found=$arg
        fi
    done < <(_atomicutils_options "$tool")
    [[ $found && $found != - ]] && printf '%s\n' "$found"
}

# Complete the value CUR of an option whose value is named ARG.
_atomicutils_value()
{
    local arg=${1#[} cur=$2
    arg=${arg%]}
    case $arg in
        DURATION)
            if [[ $cur =~ ^[0-9]+(\.[0-9]*)?$ ]]; then
                mapfile -t COMPREPLY < <(printf '%s\n' "$cur"{ms,s,m,h,d})
            else
                mapfile -t COMPREPLY < <(compgen -W '0 500ms 10s 1m 10m 1h 1d inf infinity' -- "$cur")
            fi
            ;;
        SIZE)
            if [[ $cur =~ ^[0-9]+$ ]]; then
                mapfile -t COMPREPLY < <(printf '%s\n' "$cur" "$cur"{K,M,G})
            else
                mapfile -t COMPREPLY < <(compgen -W '4K 64K 1M 16M' -- "$cur")
            fi
            ;;
        MODE)
            mapfile -t COMPREPLY < <(compgen -W '600 640 644 660 664 666 u=rw,go= u=rw,g=r,o= a=r' -- "$cur")
            ;;
        PID)
            local pids
            pids=$(cd /proc 2>/dev/null && compgen -G '[0-9]*')
            mapfile -t COMPREPLY < <(compgen -W "$pids" -- "$cur")
            ;;
        FORMAT)
            # safe-append -t: its own 'rfc3339', or a date(1) format.
            mapfile -t COMPREPLY < <(compgen -W "rfc3339 '%Y-%m-%dT%H:%M:%S%z' '%H:%M:%S' '%s'" -- "$cur")
            ;;
        N)
            mapfile -t COMPREPLY < <(compgen -W '1 75' -- "$cur")
            ;;
        TEXT)
            COMPREPLY=()
            ;;
        *)
            _atomicutils_files "$cur"
            ;;
    esac
}

_atomicutils_files()
{
    compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -f -- "$1")
}

_atomicutils()
{
    local tool=${COMP_WORDS[0]} cur=${COMP_WORDS[COMP_CWORD]}
    local prev=${COMP_WORDS[COMP_CWORD - 1]}
    COMPREPLY=()

    # bash splits "--opt=value" at the "=": complete the value.
    if [[ $cur == = && $prev == --* ]]; then
        _atomicutils_value "$(_atomicutils_option_arg "$tool" "$prev")" ""
        return
    fi
    if ((COMP_CWORD >= 3)) && [[ $prev == = ]]; then
        local opt=${COMP_WORDS[COMP_CWORD - 2]}
        if [[ $opt == --* ]]; then
            _atomicutils_value "$(_atomicutils_option_arg "$tool" "$opt")" "$cur"
            return
        fi
    fi

    # Walk the words before CUR: skip options and their separate values,
    # count the operands, and note where lockdir's COMMAND starts.
    local i word arg operands=0 end_of_options='' command_at=0 skip=''
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        if [[ -n $skip ]]; then
            skip=
            continue
        fi
        if [[ -z $end_of_options && $word == -- ]]; then
            end_of_options=1
        elif [[ -z $end_of_options && $word == --?* ]]; then
            # "--opt" "=" "value" are three words; "--opt value" two.
            if [[ ${COMP_WORDS[i + 1]} == = ]]; then
                ((i += 2))
            else
                arg=$(_atomicutils_option_arg "$tool" "$word")
                [[ $arg && $arg != \[* ]] && skip=1
            fi
        elif [[ -z $end_of_options && $word == -?* ]]; then
            # A cluster of short options: the first that takes a value
            # takes the rest of the word, or the next word.
            local j
            for ((j = 1; j < ${#word}; j++)); do
                arg=$(_atomicutils_option_arg "$tool" "-${word:j:1}")
                if [[ $arg && $arg != \[* ]]; then
                    ((j == ${#word} - 1)) && skip=1
                    break
                fi
            done
        else
            ((operands++))
            if [[ ${tool##*/} == lockdir ]] && ((operands == 2)); then
                # lockdir stops at its first operand after LOCK: the
                # rest is the command line.
                command_at=$i
                break
            fi
            # lockdir takes no options after LOCK either.
            [[ ${tool##*/} == lockdir ]] && end_of_options=1
        fi
    done

    if ((command_at > 0)); then
        if declare -F _command_offset >/dev/null; then
            _command_offset "$command_at"
        else
            _atomicutils_files "$cur"
        fi
        return
    fi

    # A value given as the next word.
    if [[ -n $skip ]]; then
        _atomicutils_value "$(_atomicutils_option_arg "$tool" "$prev" 2>/dev/null ||
                              _atomicutils_option_arg "$tool" "-${prev: -1}")" "$cur"
        return
    fi

    if [[ -z $end_of_options && $cur == -* ]]; then
        local name
        local -a names=()
        while read -r name arg; do
            if [[ $name == --* && $arg != - && $arg != \[* ]]; then
                names+=("$name=")
            else
                names+=("$name")
            fi
        done < <(_atomicutils_options "$tool")
        mapfile -t COMPREPLY < <(compgen -W "${names[*]}" -- "$cur")
        # "--opt=" is followed by its value, with no space between.
        [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *= ]] &&
            compopt -o nospace 2>/dev/null
        return
    fi

    if [[ ${tool##*/} == lockdir ]] && ((operands == 1)); then
        # The word after LOCK is COMMAND.
        compopt -o filenames 2>/dev/null
        mapfile -t COMPREPLY < <(compgen -c -- "$cur" | sort -u)
        return
    fi
    _atomicutils_files "$cur"
}

complete -F _atomicutils atomic-swap excl-create lockdir safe-append

# ex: filetype=sh
