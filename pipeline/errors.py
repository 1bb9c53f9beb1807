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


class RegistryError(PantauError):
    """Raised by models.registry when a candidate registry file (models/registry/*.toml) cannot be read, lacks a
    required field or contradicts itself (two candidates with one ballot number); the message names file and field."""


class CrawlError(PantauError):
    """Raised by flows.crawl when a spider subprocess exits with an error after its retries."""


class InputError(PantauError):
    """Raised by the CLI and loaders when an input file cannot be read at all (not for single bad rows,
    which become rejects with a reason)."""


class WorkspaceError(PantauError):
    """Raised by pipeline.web when a review action is not allowed: the item is held by another reviewer, already
    decided, or the decision is out of turn for the four-eyes rule (the web answers 409 with the reason)."""
