"""Prefect flows and tasks: crawl (spider subprocesses), load (validate, dedupe, classify, store), nightly."""
