# SPDX-License-Identifier: GPL-2.0-or-later
"""Guest fixtures.  A booted guest is expensive under TCG, so guests are kept
for the whole session and handed to every test that asks for the same
(config, model, driver) -- unless a test left the guest unwell, in which case
the next test gets a fresh one."""
import pytest

from cosim import config
from cosim.machine import Guest, GuestError


class GuestPool:
    def __init__(self):
        self._guests = {}

    def get(self, name, cfg, libvirt=None):
        """@libvirt: a libvirt URI for this guest, instead of LIBVIRT_URI."""
        key = (cfg.source, cfg.controller.model, cfg.driver.name, libvirt)
        guest = self._guests.get(key)
        if guest and not guest.healthy:
            guest.close()
            guest = None
        if guest is None:
            guest = Guest(cfg, name=name, libvirt=libvirt).start()
            try:
                guest.load_driver()
            except BaseException:
                guest.close()       # no QEMU left running for the rest of the session
                raise
            self._guests[key] = guest
        return guest

    def close(self):
        for guest in self._guests.values():
            guest.close()
        self._guests.clear()


@pytest.fixture(scope="session")
def guest_pool():
    pool = GuestPool()
    yield pool
    pool.close()


def _use(request, pool, cfg, libvirt=None):
    """Hand a pooled guest to a test, then check what the test left behind:
    a panic, oops, WARNING or hung task on the console fails the test."""
    try:
        guest = pool.get(request.node.name, cfg, libvirt)
    except GuestError as e:
        pytest.fail(f"guest did not come up: {e}")
    since = guest.console.size()
    yield guest
    rep = getattr(request.node, "rep_call", None)
    failed = rep is None or rep.failed
    problems = guest.console_problems(since)
    if failed or problems:
        guest.healthy = False
    if failed:
        print(f"\nguest logs: {guest.rundir}")
    if problems:
        pytest.fail("guest console shows trouble:\n  " + "\n  ".join(problems[:10]) +
                    f"\n  console: {guest.console.path}")


@pytest.fixture
def guest(request, guest_pool):
    """A guest booted with the default config (MODEL/DRIVER/CONFIG honoured)
    and its NVMe driver loaded."""
    yield from _use(request, guest_pool, config.from_env())


@pytest.fixture
def nvme_guest(request, guest_pool):
    """The same controller driven by Linux's own nvme driver."""
    yield from _use(request, guest_pool, config.from_env(driver="nvme"))


@pytest.fixture
def guest_for(request, guest_pool):
    """guest_for(cfg, libvirt=None): a pooled guest for a config the test
    picks itself, its console checked afterwards as for `guest`."""
    uses = []

    def get(cfg, libvirt=None):
        use = _use(request, guest_pool, cfg, libvirt)
        uses.append(use)
        return next(use)

    yield get
    for use in uses:
        next(use, None)
