"""Code-task runners: evalplus, BigCodeBench and LiveCodeBench semantics over the sandbox."""
