"""What the harness file provisions for the pipeline, named under one project."""

from __future__ import annotations


class PipelineResources:
    """The pipeline's topic, subscription and tables in the project of ``self.config`` (a
    :class:`harness.provision.HarnessConfig`), and ``landed()`` through ``self.bigquery``."""

    @property
    def project(self) -> str:
        return self.config.project

    def bucket(self, name: str) -> str:
        """A bucket of the harness file by its configured name (``{project}-batch``)."""
        return self.config.bucket_name(name)

    @property
    def topic(self) -> str:
        """The topic the pipeline's subscription reads."""
        name = self.config.pipeline["input_subscription"]
        spec = next(s for s in self.config.subscriptions if s["name"] == name)
        return self.config.topic_path(spec["topic"])

    @property
    def subscription(self) -> str:
        return self.config.subscription_path(self.config.pipeline["input_subscription"])

    @property
    def events_table(self) -> str:
        return f"{self.project}.{self.config.pipeline['output_table']}"

    @property
    def dead_letter_table(self) -> str:
        return f"{self.project}.{self.config.pipeline['dead_letter_table']}"

    def landed(self) -> tuple[int, int]:
        """Rows in the events table and in the dead-letter table."""
        from harness import traffic

        return (
            traffic.count_rows(self.bigquery, self.events_table),
            traffic.count_rows(self.bigquery, self.dead_letter_table),
        )
