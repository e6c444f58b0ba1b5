#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Install the Debian packages nvme-cosim needs, and the deb-src entry that
# `apt-get source qemu` needs.  Quick and silent when nothing is missing.
set -eu

# sparse, and linux-source-6.1 for the checkpatch.pl in its tarball: the
# driver's lint (tests/unit/test_driver_lint.py).
PKGS="build-essential dpkg-dev ccache ninja-build meson pkg-config flex bison
      clang libclang-rt-14-dev llvm-14
      libglib2.0-dev libpixman-1-dev zlib1g-dev libfdt-dev
      seabios qemu-system-data
      linux-image-amd64 linux-headers-amd64 kmod cpio squashfs-tools
      sparse linux-source-6.1
      busybox-static fio nvme-cli sg3-utils linux-perf
      python3 python3-pytest python3-pytest-timeout python3-pytest-xdist flake8
      python3-matplotlib
      python3-libvirt libvirt-daemon libvirt-daemon-driver-qemu"

# One dpkg-query for all: this runs before every make sim and make test.
installed=" $(dpkg-query -W -f='${Package} ${Status}\n' $PKGS 2>/dev/null |
	awk '$4 == "installed" { printf "%s ", $1 }')"
missing=""
for p in $PKGS; do
	case "$installed" in
	*" $p "*) ;;
	*) missing="$missing $p" ;;
	esac
done

need_src=1
grep -rqsE '^(deb-src|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/ && need_src=0

# libvirt's QEMU driver refuses to start without its default user, even when
# qemu.conf says to run QEMU as root (the embedded driver in harness/cosim).
need_user=0
getent passwd libvirt-qemu >/dev/null || need_user=1

[ -z "$missing" ] && [ $need_src = 0 ] && [ $need_user = 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "setup: this machine lacks what nvme-cosim needs; as root, run:" >&2
	[ $need_src = 1 ] && echo "  sudo $0    # adds a deb-src entry for apt-get source qemu, then:" >&2
	[ -n "$missing" ] &&
		echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends$missing" >&2
	[ $need_user = 1 ] &&
		echo "  sudo useradd --system --no-create-home --shell /usr/sbin/nologin libvirt-qemu" >&2
	exit 1
fi

if [ $need_src = 1 ]; then
	cat > /etc/apt/sources.list.d/nvme-cosim-src.sources <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi

if [ -n "$missing" ] || [ $need_src = 1 ]; then
	echo "setup: installing:${missing:- (none, refreshing sources)}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	[ -n "$missing" ] && apt-get install -y -q --no-install-recommends $missing
fi
getent passwd libvirt-qemu >/dev/null ||
	useradd --system --no-create-home --shell /usr/sbin/nologin libvirt-qemu
exit 0
