#!/bin/sh
# Install the Debian packages named on the command line, only those
# missing, without questions and without starting any daemon.  Then
# prepare the private Exim the integration tests use (see below).
# Idempotent: a second run installs and downloads nothing.
set -e

EXIM_CACHE=/var/cache/postern-test
EXIM_DIR=$EXIM_CACHE/exim
EXIM_BIN=$EXIM_DIR/usr/sbin/exim4
EXIM_PKG=exim4-daemon-light
SA_UPDATE_KEYS=/var/lib/spamassassin/sa-update-keys

missing_of() {
	missing=""
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'install ok installed' || missing="$missing $p"
	done
	echo "$missing"
}

install_packages() {
	missing=$(missing_of "$@")
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" != 0 ]; then
		echo "deps: missing packages:$missing (run as root)" >&2
		exit 1
	fi
	# Postinst scripts must not start the MTAs we install for tests.
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
	fi
	echo "postfix postfix/main_mailer_type select No configuration" |
		debconf-set-selections
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q || true
	# shellcheck disable=SC2086 # a list of names, split on purpose
	apt-get install -y -q --no-install-recommends $missing
}

# spamassassin's postinst imports the sa-update signing key with gpg,
# which leaves a gpg-agent running for that key directory.  Stop that
# agent only: a process named gpg-agent whose arguments include
# "--homedir $SA_UPDATE_KEYS".
stop_sa_update_agent() {
	for dir in /proc/[0-9]*; do
		args=$( (tr '\0' ' ' < "$dir/cmdline") 2>/dev/null) ||
			continue
		case "$args" in
		gpg-agent\ *"--homedir $SA_UPDATE_KEYS "* | \
			*/gpg-agent\ *"--homedir $SA_UPDATE_KEYS "*)
			kill "${dir#/proc/}" 2>/dev/null || true
			echo "deps: stopped sa-update's gpg-agent" \
				"(pid ${dir#/proc/})"
			;;
		esac
	done
}

# The runtime libraries the Exim binary links against: its Depends line
# without exim4-base and debconf, which the bare binary does not need.
exim_lib_deps() {
	dpkg-deb -f "$1" Depends | tr ',' '\n' |
		sed -e 's/|.*//' -e 's/(.*)//' -e 's/ //g' |
		grep -v -e '^exim4' -e '^debconf' -e '^$'
}

# Postfix and exim4 conflict as Debian packages, so the tests run an Exim
# that is downloaded and unpacked into a private tree, never installed.
# Its compiled-in user Debian-exim must exist; its compiled-in config
# paths are never used (the tests pass -C).
prepare_exim() {
	if [ -x "$EXIM_BIN" ] && id Debian-exim >/dev/null 2>&1 &&
		"$EXIM_BIN" -bV -C /dev/null >/dev/null 2>&1; then
		return 0
	fi
	if [ "$(id -u)" != 0 ]; then
		echo "deps: $EXIM_BIN missing (run as root)" >&2
		exit 1
	fi
	id Debian-exim >/dev/null 2>&1 ||
		useradd --system --user-group --no-create-home \
			--home-dir /nonexistent --shell /usr/sbin/nologin \
			Debian-exim
	mkdir -p "$EXIM_CACHE"
	deb=$(ls "$EXIM_CACHE"/${EXIM_PKG}_*.deb 2>/dev/null | tail -1)
	if [ -z "$deb" ]; then
		apt-get update -q || true
		(cd "$EXIM_CACHE" && apt-get download "$EXIM_PKG")
		deb=$(ls "$EXIM_CACHE"/${EXIM_PKG}_*.deb | tail -1)
	fi
	# shellcheck disable=SC2046 # a list of names, split on purpose
	install_packages $(exim_lib_deps "$deb")
	rm -rf "$EXIM_DIR.tmp"
	dpkg-deb -x "$deb" "$EXIM_DIR.tmp"
	rm -rf "$EXIM_DIR"
	mv "$EXIM_DIR.tmp" "$EXIM_DIR"
	"$EXIM_BIN" -bV -C /dev/null >/dev/null 2>&1
	echo "deps: exim unpacked into $EXIM_DIR"
}

install_packages "$@"
stop_sa_update_agent
prepare_exim
