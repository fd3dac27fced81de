"""minillm: language models from N-grams to Transformers, in NumPy you can read next to the math."""
__version__ = "0.1.0"
