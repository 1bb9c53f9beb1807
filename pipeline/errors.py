"""The project's exceptions: one base class, each subclass saying where it is raised."""

from __future__ import annotations


class PantauError(Exception):
    """Base class of every error pantau raises on purpose."""


class ConfigError(PantauError):
    """Raised by pipeline.config when a setting or a settings file is invalid."""


class StoreLockedError(PantauError):
    """Raised by pipeline.storage when the DuckDB file stayed locked by another process past the retry budget."""


class MigrationError(PantauError):
    """Raised by pipeline.migrations when the database is newer than this code or a migration fails."""


class ModelError(PantauError):
    """Raised by models when an artifact is missing, incomplete or of an unknown version."""


class CrawlError(PantauError):
    """Raised by flows.crawl when a spider subprocess exits with an error after its retries."""


class InputError(PantauError):
    """Raised by the CLI and loaders when an input file cannot be read at all (not for single bad rows,
    which become rejects with a reason)."""
