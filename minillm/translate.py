"""Old path, kept for one release: use `minillm.tasks.translation` (and `minillm.cli.cases`) instead."""
import warnings

from minillm.tasks.translation import *  # noqa: F401,F403
from minillm.cli.cases import add_translate_parser, cmd_translate  # noqa: F401

warnings.warn("minillm.translate moved to minillm.tasks.translation; this old path goes away in the next release",
              DeprecationWarning, stacklevel=2)
