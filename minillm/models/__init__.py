"""Whole models composed from minillm.layers; every LM has logprob / perplexity.

GPT samples through minillm.generate.generate (models never import generate.py).
"""
from minillm.models.glove import GloVe, GloVeConfig
from minillm.models.gpt import GPT, GPTConfig
from minillm.models.hmm import HMM
from minillm.models.ngram import NGramLM
from minillm.models.rnn import RNNLM, RNNConfig
from minillm.models.word2vec import Word2Vec, Word2VecConfig
from minillm.models.wordvectors import WordVectors
