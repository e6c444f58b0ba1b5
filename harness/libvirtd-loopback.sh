#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# A libvirtd of the harness's own, reachable as qemu+tcp://127.0.0.1/system:
# the "other host" that tests/guest/test_libvirt.py and `make test HOSTS=...`
# reach over libvirt's remote protocol, on this machine.
#
#   harness/libvirtd-loopback.sh [start]   start it unless it answers already
#   harness/libvirtd-loopback.sh stop      stop it
#
# It runs in a mount namespace of its own, with private directories under
# build/libvirtd-loopback/ bound over /etc/libvirt, /run/libvirt,
# /var/lib/libvirt, /var/log/libvirt and /var/cache/libvirt: the machine's
# own libvirt configuration and any system libvirtd are left alone.  TCP on
# 127.0.0.1 only, without authentication; QEMU runs as root without a
# security driver, as with the embedded driver (cosim/libvirt_vm.py).
# Needs root (mount namespaces, and libvirtd's system mode).
set -eu

cd "$(dirname "$0")/.."
TOP=$(pwd)/build/libvirtd-loopback
PORT=16509		# libvirt's own, which qemu+tcp://127.0.0.1/system implies
PIDFILE=$TOP/libvirtd.pid
LOG=$TOP/libvirtd.log
DIRS="/etc/libvirt /run/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt"

running() {
	[ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

# Whether libvirt's remote protocol answers there (virsh is in another package).
answers() {
	/usr/bin/python3 -c 'import sys, libvirt
libvirt.registerErrorHandler(lambda *_: None, None)
libvirt.open(sys.argv[1]).close()' "qemu+tcp://127.0.0.1:$PORT/system" 2>/dev/null
}

# Stop our libvirtd and wait (10 s at most) until it is gone.
stop() {
	running || return 0
	pid=$(cat "$PIDFILE")
	kill "$pid"
	i=0
	while kill -0 "$pid" 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 100 ] || { echo "libvirtd-loopback: libvirtd $pid does not stop" >&2; exit 1; }
		sleep 0.1
	done
	rm -f "$PIDFILE"
}

if [ "${1:-start}" = stop ]; then
	stop
	exit 0
fi

if answers; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "libvirtd-loopback: needs root (a mount namespace and libvirtd's system mode)" >&2
	exit 1
fi
# One starter at a time (pytest-xdist workers may all ask at once): the
# others wait here, then find it answering.
mkdir -p "$TOP"
exec 9>"$TOP/.start.lock"
flock -w 60 9 || { echo "libvirtd-loopback: $TOP/.start.lock held for 60 s" >&2; exit 1; }
answers && exit 0
stop		# alive but not answering: start afresh

for d in $DIRS; do
	mkdir -p "$TOP$d"
	# only the mount point, if the packages did not make it: stays empty
	[ -d "$d" ] || mkdir -p "$d"
done
mkdir -p "$TOP/var/lib/libvirt/qemu" "$TOP/var/cache/libvirt/qemu" "$TOP/var/log/libvirt/qemu"

cat >"$TOP/etc/libvirt/libvirtd.conf" <<EOF
listen_tls = 0
listen_tcp = 1
listen_addr = "127.0.0.1"
tcp_port = "$PORT"
auth_tcp = "none"
unix_sock_dir = "/run/libvirt"
log_outputs = "3:stderr"
EOF
# The same qemu.conf as the embedded driver's.
cp harness/libvirt-qemu.conf "$TOP/etc/libvirt/qemu.conf"

binds=""
for d in $DIRS; do
	binds="$binds mount --bind '$TOP$d' '$d';"
done
# libvirtd -d forks into the background inside the namespace, which lives as
# long as it does; its log (warnings and errors) goes to build/.  It must not hold
# the start lock (fd 9).
unshare -m --propagation private sh -c "$binds exec /usr/sbin/libvirtd -d --listen \
	-f /etc/libvirt/libvirtd.conf -p '$PIDFILE'" >>"$LOG" 2>&1 </dev/null 9>&-

# Wait (30 s at most) until it answers on the port.
i=0
until answers; do
	i=$((i + 1))
	if [ $i -ge 300 ]; then
		echo "libvirtd-loopback: libvirtd did not answer on 127.0.0.1:$PORT; its log: $LOG" >&2
		tail -5 "$LOG" >&2
		exit 1
	fi
	sleep 0.1
done
echo "libvirtd-loopback: qemu+tcp://127.0.0.1:$PORT/system (log: $LOG)" >&2
