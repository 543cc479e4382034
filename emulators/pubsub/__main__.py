"""``python -m emulators.pubsub``: run the Pub/Sub emulator."""

import importlib.util
import sys
import types


def _skip_gapic_clients() -> None:
    """Let ``google.pubsub_v1.types`` load without the package ``__init__``.

    That ``__init__`` imports every GAPIC client (google-auth, requests, api_core, ...),
    about half of the emulator's start-up time, and the server needs only the message types.
    Done only here, in the emulator's own process, never when imported as a library.
    """
    if "google.pubsub_v1" in sys.modules:
        return
    spec = importlib.util.find_spec("google.pubsub_v1")
    if spec is None or not spec.submodule_search_locations:
        return
    package = types.ModuleType("google.pubsub_v1")
    package.__path__ = list(spec.submodule_search_locations)
    package.__spec__ = spec
    package.__file__ = spec.origin
    sys.modules["google.pubsub_v1"] = package


if __name__ == "__main__":
    _skip_gapic_clients()
    from emulators.pubsub.server import main

    raise SystemExit(main())
