"""More virtqueues than QEMU's device gives is refused, naming the value and the limit
(issue 11's bad input), with the number QEMU's own check uses."""

from __future__ import annotations

import pytest

import iovmodel as iov

#: path -> the most queues (virtio-net: queue pairs) its QEMU device takes; VIRTIO_QUEUE_MAX is
#: 1024 (include/hw/virtio/virtio.h): virtio-scsi keeps two for its control and event queues,
#: virtio-net one control queue beside its pairs, (1024 - 1) // 2
LIMITS = {"virtio-blk": 1024, "virtio-blk-iothread": 1024, "vhost-user-blk": 1024,
          "vhost-blk": 1024, "virtio-scsi": 1022, "virtio-scsi-iothread": 1022,
          "vhost-scsi": 1022, "vhost-user-scsi": 1022, "virtio-net": 511, "vhost-net": 511}


@pytest.mark.parametrize(("name", "limit"), LIMITS.items())
def test_more_queues_than_the_device_takes_are_refused(name, limit):
    iov.path(name, queues=limit)  # the limit itself is fine
    with pytest.raises(iov.ParameterError, match=rf"queues={limit + 1}\b.*refused.*{limit}"):
        iov.path(name, queues=limit + 1)


@pytest.mark.parametrize("name", [n for n, _ in LIMITS.items() if n not in ("virtio-net",
                                                                             "vhost-net")])
def test_one_queue_per_vcpu_is_not_a_number_beyond_the_limit(name):
    # queues="inf" (one per vCPU in use, QEMU's automatic num-queues) passes the check
    assert iov.path(name, queues="inf").options["queues"] == float("inf")
