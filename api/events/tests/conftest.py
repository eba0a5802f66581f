from api.ingest.tests.fake_sdk import clock, page  # noqa: F401  (fixtures)
