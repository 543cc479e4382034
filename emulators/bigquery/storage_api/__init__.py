"""The BigQuery Storage Read and Write APIs (gRPC) of the emulator.

`server` is the wire layer; `read` and `write` hold sessions and write streams as plain
Python/Arrow values; table data stays in the emulator's DuckDB storage (`BigQueryService`).
`clients` gives Google's clients wired to the emulator (used by the harness and tests).
"""
