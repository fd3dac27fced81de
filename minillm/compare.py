"""Old path, kept for one release: use `minillm.tasks.comparison` instead."""
import warnings

from minillm.tasks.comparison import *  # noqa: F401,F403

warnings.warn("minillm.compare moved to minillm.tasks.comparison; this old path goes away in the next release",
              DeprecationWarning, stacklevel=2)
