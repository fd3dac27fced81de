"""Old path, kept for one release: use `minillm.tasks.classification` (and `minillm.cli.cases`) instead."""
import warnings

from minillm.tasks.classification import *  # noqa: F401,F403
from minillm.cli.cases import add_finetune_parser, cmd_finetune  # noqa: F401

warnings.warn("minillm.finetune moved to minillm.tasks.classification; this old path goes away in the next release",
              DeprecationWarning, stacklevel=2)
