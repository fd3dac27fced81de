"""Old path, kept for one release: use `minillm.generate` instead."""
import warnings

from minillm.generate import *  # noqa: F401,F403

warnings.warn("minillm.beam moved to minillm.generate; this old path goes away in the next release",
              DeprecationWarning, stacklevel=2)
