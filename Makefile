# SPDX-License-Identifier: GPL-2.0-or-later
# nvme-cosim: `make sim` for a guest, `make test` for the suites.
# Variables: MODEL=cosim|qemu  DRIVER=nvme_scsi|nvme|none  CONFIG=configs/X.toml
#            SIM_CMD='shell command'  PYTEST_ARGS='-k foo'  JOBS=N  LIBVIRT_URI=embed|URI
#            HOSTS='URI1 URI2' (spread the guests over libvirt hosts)  HOST_JOBS=N
#            TRACE='cosim_nvme_*' (QEMU trace events into the run's trace.log)
PY      := PYTHONPATH=$(CURDIR)/harness /usr/bin/python3
# SIM_CMD reaches the guest shell verbatim: no make expansion of $? or $(...).
override SIM_CMD := $(value SIM_CMD)
export MODEL DRIVER CONFIG SIM_CMD LIBVIRT_URI DRIVER_SRC TRACE HOSTS

.PHONY: all setup qemu qemu-fuzz driver image sim test test-order test-faults oracle-selftest interop test-unit fuzz fuzz-coverage bench profile qmp-shell clean distclean

all: qemu image

setup:
	@sh harness/setup.sh

qemu: setup
	@$(PY) -m cosim qemu

# QEMU's fuzzer (generic-fuzz) with the model: clang, ASan + UBSan.
qemu-fuzz: setup
	@$(PY) -m cosim qemu --fuzz

driver: setup
	@$(PY) -c 'from cosim import image, paths; image.build_driver(paths.guest_kernel_release(), force=True)'

image: setup
	@$(PY) -m cosim image

sim: setup
	@$(PY) -m cosim sim

# QEMU's qmp-shell on the newest `make sim`'s QMP socket (or QMP=path).
qmp-shell:
	@sock=$${QMP:-$$(ls -t build/results/sim-*/qmp.sock 2>/dev/null | head -1)}; \
	 [ -S "$$sock" ] || { echo "no running make sim found (QMP=path/to/qmp.sock)" >&2; exit 1; }; \
	 PYTHONPATH=$(CURDIR)/build/qemu-src/python /usr/bin/python3 -m qemu.qmp.qmp_shell $$sock

# The last line is pytest's summary.  Exit status 5 (no tests collected) is a
# failure here: a suite that silently ran nothing must not look green.
# JOBS=N runs independent guests side by side (pytest-xdist); the tests of a
# module share a guest and stay on one worker.  `make test` defaults to one
# worker more than CPUs: its guest tests spend much of their time waiting on
# timeouts and idle guests (on 2 CPUs: 486 s with JOBS=1, 279 s with 2, 242 s
# with 3).  The long suites default to one, so that the recovery times in
# their tables are not those of a loaded host.  At most 8: a guest is 1 GiB.
TEST_JOBS = $(shell n=$$(nproc); echo $$((n < 8 ? n + 1 : 8)))
# HOSTS="URI1 URI2 ...": the guests run on those libvirt hosts, each xdist
# worker bound to one (worker gwN to the N mod len(HOSTS)-th, cosim/fleet.py),
# HOST_JOBS workers per host unless JOBS says otherwise.  pytest-xdist's
# controller writes the one JUnit file (build/results/junit.xml, pytest.ini)
# and prints the tables from every worker's results.
HOST_JOBS ?= 2
FLEET_JOBS = $(if $(HOSTS),$(shell echo $$(($(words $(HOSTS)) * $(HOST_JOBS)))))
# $(call PYTEST,args,default JOBS)
PYTEST = $(PY) -m pytest $(call XDIST,$(or $(JOBS),$(FLEET_JOBS),$(2),1)) $(1) $(PYTEST_ARGS); rc=$$?; \
	 if [ $$rc -eq 5 ]; then echo "make: pytest collected no tests" >&2; exit 1; fi; \
	 exit $$rc
XDIST = $(if $(filter-out 1,$(1)),-n $(1) --dist loadscope $(KEEP_ORDER))
# pytest-xdist 3.5 and later sort loadscope's files by their number of tests
# unless told not to; the order cosim.fixtures gives (longest first) is the point.
KEEP_ORDER = $(shell $(PY) -c 'import inspect, xdist.plugin as p; \
	print("--no-loadscope-reorder" * ("no-loadscope-reorder" in inspect.getsource(p)))')

# --durations: the ten slowest tests, where to look when the suite grows slow.
# As root, a libvirtd of our own on loopback (qemu+tcp://127.0.0.1/system):
# tests/guest/test_libvirt.py reaches it as another host, and HOSTS may name it.
test: qemu qemu-fuzz
	@[ "$$(id -u)" != 0 ] || sh harness/libvirtd-loopback.sh
	@$(call PYTEST,--durations=10 -m "not (faults or interop) or smoke",$(TEST_JOBS))

# tests/file_seconds.toml from the last run's JUnit report: the order of
# `make test` where build/ has no report yet (cosim.fixtures).
test-order:
	@$(PY) -c 'from cosim import fixtures; fixtures.save_file_seconds()'

# Every config in configs/ x {nvme_scsi, nvme} x {cosim-nvme, QEMU nvme}.
# -v: each cell's name as it starts and its outcome with [ n%] as it ends.
interop: qemu
	@$(call PYTEST,-v -m interop)

# Every fault-injection case, against nvme_scsi and Linux's nvme.
test-faults: qemu
	@$(call PYTEST,-v -m faults)

# Every fault case with one Write lost: each must notice (see README).
oracle-selftest: qemu
	@ORACLE_SELFTEST=1 $(call PYTEST,-v -m faults)

# fio on nvme_scsi + cosim-nvme, Linux nvme + QEMU nvme and both crossings, as
# ratios; BENCH_REPEAT interleaved repetitions (default 3) of BENCH_RUNTIME
# seconds per job (default 10).  Never part of `make test`.
bench: qemu
	@$(PY) -m cosim.bench

# Guest instructions per IO by function on bench's stacks, counted by a TCG
# plugin in a QEMU built with plugins (build/qemu-build-plugins/): a driver's
# path counts the same at any host speed, which timings cannot offer.
# PROFILE_JOB= one of bench's jobs (default "4k randread QD32"),
# PROFILE_RUNTIME= seconds (default 10).  Never part of `make test`.
profile: setup
	@PLUGINS=1 $(PY) -m cosim qemu
	@PLUGINS=1 $(PY) -m cosim.profile

test-unit: setup
	@$(MAKE) -s -C hw-model check

# Coverage-guided fuzzing, FUZZ_SECONDS each (default 180), FUZZ_JOBS
# workers (default 2), both with ASan + UBSan: libFuzzer on hw-model/core
# (corpus build/fuzz/corpus, findings build/fuzz/findings/), then QEMU's
# generic-fuzz on cosim-nvme in a clang build of QEMU (build/qemu-fuzz/).
FUZZ_SECONDS ?= 180
FUZZ_JOBS ?= 2
fuzz: qemu-fuzz
	@$(MAKE) -s -C hw-model fuzz FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_JOBS=$(FUZZ_JOBS)
	@$(PY) -m cosim.qemu_fuzz $(FUZZ_SECONDS) $(FUZZ_JOBS)

# Line, region and branch coverage of hw-model/core by the core fuzzer's corpus.
fuzz-coverage: setup
	@$(MAKE) -s -C hw-model fuzz-coverage

clean:
	-@$(MAKE) -s -C driver clean
	-@$(MAKE) -s -C hw-model clean
	rm -rf build/guest build/results

distclean: clean
	rm -rf build
