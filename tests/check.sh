# Sourced by the test scripts (tests/*.sh):
#   check DESCRIPTION COMMAND...
# runs COMMAND; if it fails, prints "FAIL: DESCRIPTION" on stderr and sets
# fail=1, which the script exits with at its end.
fail=${fail:-0}
check() {
	local what=$1
	shift
	if ! "$@"; then
		echo "FAIL: $what" >&2
		fail=1
	fi
}
