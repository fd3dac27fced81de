"""Old path, kept for one release: use `minillm.runtime.parallel` (and `minillm.runtime.blas`) instead."""
import warnings

from minillm.runtime.parallel import *  # noqa: F401,F403
from minillm.runtime.blas import blas_threads, single_threaded_blas  # noqa: F401

warnings.warn("minillm.parallel moved to minillm.runtime.parallel; this old path goes away in the next release",
              DeprecationWarning, stacklevel=2)
