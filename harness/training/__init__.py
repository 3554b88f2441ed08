"""PRM training (``prm-harness train-prm``): a value head read at the step separators of a
zoo or local backbone, BCE on step labels (seed 003, eq. 2); docs/training.md."""
