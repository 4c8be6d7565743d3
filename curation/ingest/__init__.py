"""Candidate-image ingestion internals: sources, archive safety, the safe URL fetcher, decoding.

Nothing here touches the database; `curation.services.ingest` drives these pieces as a Job.
Heavy imports (Pillow, imagehash, urllib3) stay inside the submodules that need them, so web
processes that only start an ingest never load them.
"""
