"""Cloud Storage for the stack: gcp-storage-emulator (PyPI), started our way (see README.md)."""
