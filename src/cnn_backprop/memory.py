"""Keep freed memory in the process: what makes a training step's many large arrays cheap to allocate.

Each step allocates and frees the same arrays of up to megabytes: the conv
windows, the maps, their gradients.  By default glibc's allocator hands large
freed blocks back to the system, so the next step page-faults on every page of
them anew, and that costs more than the arithmetic done in them (the default
digits network at batch 32 in float64: 2.3 ms a step instead of 1.2 ms).
"""

import ctypes

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # mallopt's parameter numbers, from glibc's malloc.h


def keep_freed_memory():
    """Ask glibc to keep freed memory for reuse instead of returning it to the system; True if it agreed.

    Process-wide: the process then holds on to its peak memory, as long-running
    numeric programs usually do.  Allocations are served from the heap rather
    than fresh mappings (M_MMAP_MAX 0) and the heap is never trimmed.  Does
    nothing where the C library has no ``mallopt`` (macOS, Windows, musl).
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    return bool(mallopt(M_TRIM_THRESHOLD, 2**31 - 1)) and bool(mallopt(M_MMAP_MAX, 0))
