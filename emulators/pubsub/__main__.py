"""``python -m emulators.pubsub``: run the Pub/Sub emulator."""

from emulators.pubsub.server import main

if __name__ == "__main__":
    raise SystemExit(main())
