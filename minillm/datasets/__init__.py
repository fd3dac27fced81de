"""Reading corpora and task files, and generating the synthetic ones the project ships.

    corpora.py                read_text (one reader: BOM and CRLF handled), tiny_shakespeare (download
                              with a SHA-256 check), train_val_split, read_glue_tsv, read_conll
    pretrained.py             minilm_path: the all-MiniLM-L6-v2 folder of the `pretrained` extra
    synthetic.py              planted-topic and planted-analogy corpora (word vectors, notebook 04)
    synthetic_ner.py          data/ner_*.conll          synthetic_translation.py   data/en_fr_*.tsv
    synthetic_news_blog.py    data/news_blog_*.tsv
"""
from minillm.datasets.corpora import (
    CORPUS_FILES,
    DATA_DIR,
    PROJECT_DIR,
    TINY_SHAKESPEARE_BYTES,
    TINY_SHAKESPEARE_SHA256,
    TINY_SHAKESPEARE_URL,
    DataFileNotFoundError,
    download_with_checksum,
    read_conll,
    read_glue_tsv,
    read_text,
    resolve_cache_dir,
    tiny_shakespeare,
    train_val_split,
)

__all__ = ["CORPUS_FILES", "DATA_DIR", "PROJECT_DIR", "TINY_SHAKESPEARE_BYTES", "TINY_SHAKESPEARE_SHA256", "TINY_SHAKESPEARE_URL", "DataFileNotFoundError",
           "download_with_checksum", "read_conll", "read_glue_tsv", "read_text", "resolve_cache_dir",
           "tiny_shakespeare", "train_val_split"]
