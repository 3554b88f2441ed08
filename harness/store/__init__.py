"""Run directories, shards, manifests, cache keys, readers/writers and importers."""
