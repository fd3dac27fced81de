"""Old path, kept for one release: use `minillm.tasks.ner` (and `minillm.cli.cases`) instead."""
import warnings

from minillm.tasks.ner import *  # noqa: F401,F403
from minillm.cli.cases import add_ner_parser, cmd_ner  # noqa: F401

warnings.warn("minillm.ner moved to minillm.tasks.ner; this old path goes away in the next release",
              DeprecationWarning, stacklevel=2)
