"""Typed errors raised by rsilab internals; the CLI turns them into messages that say what to do."""


class RsilabError(Exception):
    """Base for every error rsilab reports to a person."""


class ConfigError(RsilabError):
    """rsilab.toml is missing or invalid."""


class LedgerError(RsilabError):
    """The ledger refused an operation or failed verification."""


class StoreError(RsilabError):
    """The version store or artifact store could not do what was asked."""


class EditError(RsilabError):
    """A proposed edit set could not be parsed or applied exactly."""


class SandboxError(RsilabError):
    """The sandbox could not start or run a command."""


class BudgetExceeded(RsilabError):
    """An LLM budget (calls, tokens or dollars) is spent."""


class ProviderError(RsilabError):
    """An LLM provider failed in a way retries did not fix."""


class DatasetError(RsilabError):
    """A task dataset (a user's JSONL file) could not be read; the message names the line."""


class TransientProviderError(ProviderError):
    """An LLM provider failed in a way that may pass: a timeout, a dropped connection, 429 or 5xx."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds the server asked us to wait, if it said


class UntrustedInput(RsilabError):
    """Bytes the self produced are unreadable or out of bounds; the message names what and why."""


class ContainmentBreach(SandboxError):
    """A sandboxed run changed what it must not (the deployed self, refs, the ledger): stop everything."""


class RoundClosed(RsilabError):
    """The round cannot go on (e.g. the parent or deployed self cannot be assessed); it ends with this reason."""
