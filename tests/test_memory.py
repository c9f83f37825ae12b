import os
import sys

import numpy as np
import pytest

from cnn_backprop.memory import keep_freed_memory


def resident_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt and /proc are Linux's")
def test_freed_memory_stays_with_the_process_for_the_next_step():
    assert keep_freed_memory()
    block = np.ones(64 * 2**20 // 8)  # 64 MiB, every page touched
    peak = resident_bytes()
    del block
    # glibc would unmap a freed 64 MiB block at once; kept, it is still resident, ready for the next array.
    assert peak - resident_bytes() < 8 * 2**20
