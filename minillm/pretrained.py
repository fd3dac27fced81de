"""Old path, kept for one release: use `minillm.datasets.pretrained` (and `minillm.tasks.embeddings`) instead."""
import warnings

from minillm.datasets.pretrained import *  # noqa: F401,F403
from minillm.tasks.embeddings import l2_normalize, mean_pool, sentence_embeddings  # noqa: F401

warnings.warn("minillm.pretrained moved to minillm.datasets.pretrained; this old path goes away in the next release",
              DeprecationWarning, stacklevel=2)
