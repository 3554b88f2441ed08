"""Files in other harnesses' formats: lm-evaluation-harness results and samples logs, and
evalplus samples and eval results (written from stored runs, read into pools)."""
