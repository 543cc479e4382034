"""The Flex Template launcher image: its Dockerfile, entry point (main.py) and metadata.json."""
