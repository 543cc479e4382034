"""The Flex Template's entry point: the launcher runs ``python main.py --param=value ...``, with
the template parameters (``metadata.json``) and Dataflow's own options; so does the local test."""

import sys

from pipeline.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
