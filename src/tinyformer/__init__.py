"""tinyformer: the small, tested package behind *Transformers from Scratch*.

One concept per module; every chapter of the book imports from here.
"""

__version__ = "0.1.0"
