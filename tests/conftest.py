"""Hypothesis profiles. With ``CI`` set (``.ci/run`` sets it) every property test is
derandomized: the same examples on every run, so a red build means a regression rather than an
unlucky draw. Elsewhere each run draws new examples and keeps exploring."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
if os.environ.get("CI"):
    settings.load_profile("ci")
