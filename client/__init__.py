"""The one HTTP client of the askdocs API: used by the web UI, the CLI, bulk ingest and the eval commands."""
