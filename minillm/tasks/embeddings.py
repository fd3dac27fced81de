"""Sentence embeddings from a BERT encoder, as sentence-transformers computes them for all-MiniLM-L6-v2
(its modules.json: Transformer -> Pooling(mean) -> Normalize):

    e = sum_t m_t h_t / max(sum_t m_t, 1e-9)        mean over the real tokens (m = attention_mask)
    e = e / max(||e||_2, 1e-12)                       unit length, so  cos(a, b) = e_a . e_b

The model itself: minillm.datasets.pretrained.minilm_path() finds it; BertModel.from_pretrained loads it.
"""
import numpy as np

from minillm.checks import check_float_array, check_int_array


# e = sum_t m_t h_t / max(sum_t m_t, 1e-9)                   h (B, T, C), m (B, T) -> e (B, C)
def mean_pool(last_hidden_state, attention_mask):
    """Average of the token vectors over the real tokens (attention_mask 1), padding left out."""
    check_float_array("last_hidden_state", last_hidden_state, ndim=3)
    check_int_array("attention_mask", attention_mask, high=2)
    if attention_mask.shape != last_hidden_state.shape[:2]:
        raise ValueError(f"attention_mask must have shape (B, T) = {last_hidden_state.shape[:2]}, "
                         f"got {attention_mask.shape}")
    m = attention_mask.astype(last_hidden_state.dtype)[:, :, None]                 # (B, T, 1)
    total = (last_hidden_state * m).sum(axis=1)                                    # (B, C)
    count = np.maximum(m.sum(axis=1), 1e-9)                                        # (B, 1)
    return total / count


# e / max(||e||_2, 1e-12)                                                         (B, C)
def l2_normalize(e, eps=1e-12):
    check_float_array("e", e, min_ndim=1)
    norm = np.sqrt((e * e).sum(axis=-1, keepdims=True))
    return e / np.maximum(norm, eps)


def sentence_embeddings(model, tokenizer, sentences, *, batch_size=32, max_length=256):
    """Unit-length sentence vectors (N, H): tokenize, encode, mean-pool, normalise.

    Sentences longer than max_length tokens are cut (256: all-MiniLM-L6-v2's
    max_seq_length in sentence_bert_config.json).  The cosine similarity of two
    sentences is then a dot product: E @ E.T.
    """
    if isinstance(sentences, str) or not all(isinstance(s, str) for s in sentences):
        raise TypeError("sentences must be a list of str (one sentence: [text])")
    sentences = list(sentences)
    if not sentences:
        raise ValueError("sentences must hold at least one sentence, got an empty list")
    out = []
    for start in range(0, len(sentences), batch_size):
        enc = tokenizer(sentences[start:start + batch_size], padding=True, truncation=True,
                        max_length=max_length, return_tensors="np")
        h = model(**enc).last_hidden_state
        out.append(l2_normalize(mean_pool(h, enc["attention_mask"])))
    return np.concatenate(out, axis=0)
