"""The sandbox: confined child processes that run untrusted programs."""
