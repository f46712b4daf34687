"""QEMU's e1000 with and without interrupt mitigation: the TX-done interrupt of every
packet the guest sends, and the throttle that lets one interrupt cover many.

Sources (the catalog cites them on the path): QEMU hw/net/e1000.c (``start_xmit`` raises
TXDW at once without the ``mitigation`` property, default on; with it the interrupt waits
for the mitigation timer the guest programs through ITR); Linux e1000_main.c
``e1000_set_itr`` (InterruptThrottleRate 3, the default, stops at low_latency: 20000
interrupts/s); the per-interrupt register accesses of ``e1000_intr`` / ``e1000_irq_enable``.
S31 (Rizzo, qemu-devel 2012-07, bundled network_misc): guest TX of small packets ~20 ->
140 Kpps with a mitigation prototype on KVM, 9 -> 56 Kpps on TCG.
"""

from __future__ import annotations

import pytest

import iovmodel as iov
from iovmodel.spec.traffic import Traffic

FLOOD = iov.Workload.of(Traffic.flood(60, direction="tx"))


@pytest.mark.parametrize("mitigation", [True, False])
def test_an_exchange_takes_two_interrupts_and_their_register_exits(mitigation):
    # per request/response at batch 1: the TDT write and the RDT refill (1 + 1), and two
    # interrupts (TX done, RX) of 5 register accesses and an IOAPIC EOI each: 14 VM exits,
    # 12 of them to QEMU (the EOI ends in KVM)
    ms = iov.path("emulated-e1000", mitigation=mitigation).mode_switches(batch=1).iloc[0]
    assert (ms["vm_exits"], ms["user_exits"], ms["injections"]) == (14, 12, 2)


def test_without_mitigation_every_sent_packet_takes_its_tx_done_interrupt():
    # at a batch of 4 the RX interrupt's 6 exits count 1/4 each; the TX-done interrupt's 6
    # count in full without mitigation and 1/4 with it
    off = iov.path("emulated-e1000", mitigation=False).mode_switches(batch=4).iloc[0]
    on = iov.path("emulated-e1000").mode_switches(batch=4).iloc[0]
    assert off["vm_exits"] == pytest.approx(2 + 6 + 6 / 4)
    assert on["vm_exits"] == pytest.approx(2 + 6 / 4 + 6 / 4)


def test_the_throttle_sets_the_packets_per_interrupt_of_a_flood():
    host = iov.HostProfile.default()
    on = iov.analyze("emulated-e1000", host, FLOOD)
    off = iov.analyze("emulated-e1000", host, FLOOD, mitigation=False)
    # at most 20000 interrupts a second: each covers at least X / 20000 packets, and at the
    # fixed point exactly that many where the back-end is far from busy
    assert on.to_frame()["batch"].iloc[0] == pytest.approx(on.packets_per_s / 20000, rel=1e-6)
    assert off.to_frame()["batch"].iloc[0] == 1
    # S31 measured 7.0x (KVM) and 6.2x (TCG); the model's default costs give 1.7x (39.3k
    # against 22.8k packets/s): the right way, less than measured. QEMU transmits inside the
    # TDT write on the vCPU's own thread (hw/net/e1000.c set_tctl -> start_xmit), so the
    # vCPU is held through every transmit whatever the interrupt rate (iovmodel.solve.holding;
    # 2.5x while the transmit ran beside the vCPU), and the 2012 prototype S31 measured may
    # have changed more than the interrupt rate
    assert on.packets_per_s > 1.5 * off.packets_per_s


def test_no_throttle_no_change():
    # a path without irq_max_per_s, or with its condition false, has no rate limit
    assert iov.path("virtio-net").irq_max_per_s() == float("inf")
    assert iov.path("emulated-e1000", mitigation=False).irq_max_per_s() == float("inf")
    assert iov.path("emulated-e1000").irq_max_per_s() == 20000


def test_an_offered_flood_is_throttled_to_its_interval():
    # at an offered 40000 packets/s the throttle's 20000 interrupts/s cover two packets
    # each (the back-end far from busy adds nothing); without mitigation every packet pays
    # its interrupt and the flood overruns the vCPU: the tap ring drops the rest
    host = iov.HostProfile.default()
    w = iov.Workload.of(Traffic.flood(60, rate_pps=40000, direction="tx"))
    on = iov.analyze("emulated-e1000", host, w)
    off = iov.analyze("emulated-e1000", host, w, mitigation=False)
    assert on.to_frame()["batch"].iloc[0] == pytest.approx(2.0, rel=1e-6)
    assert on.packets_per_s == pytest.approx(40000) and on.dropped_per_s == 0
    assert off.packets_per_s < 40000 and off.dropped_per_s > 0
