"""The harness: runs the emulator stack, provisions it, runs the pipeline on it (CLI, pytest
plugin, demo). See harness/README.md."""
