"""Whole models composed from minillm.layers; every LM shares logprob / perplexity / generate."""
from minillm.models.hmm import HMM
from minillm.models.ngram import NGramLM
