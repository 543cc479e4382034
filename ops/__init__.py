"""Operations: alert rules and their evaluation, Cloud Monitoring export, snapshot schedules and
the runbook (see ops/README.md)."""
