"""Step labels for training PRMs: build them from rated data or rollouts, read them back.

The file contract is docs/labels.md; ``read_labels`` is the reader.
"""

from harness.labels.read import LabelRecord, read_labels, record_from_json

__all__ = ["LabelRecord", "read_labels", "record_from_json"]
