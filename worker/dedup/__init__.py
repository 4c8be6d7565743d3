"""Duplicate detection runtime (FAISS lives here only): pHash binary search, embedding cosine
search, the persistent on-disk indexes, and the `dedup` job handler. See `search.py` for the
algorithms, `store.py` for the on-disk layout and `handler.py` for the job."""
