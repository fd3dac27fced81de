"""The article's cases and pipelines as library code (no argparse: minillm/cli/ parses the flags).

    classification.py   case 1 (§4.3): pre-train a small BERT (MLM), fine-tune it on news vs blog
    ner.py              named entities as token classification (§6, §7.2), entity-level F1
    translation.py      case 2 (§4.3): an encoder-decoder Transformer, English -> French, BLEU
    comparison.py       every language model of the road (n-gram .. GPT) on one split, one table
    embeddings.py       sentence embeddings from a pretrained BERT (§5)

Each trains through minillm/train.py's one loop.
"""
