"""Every error the library raises on purpose.

Each carries a message written for the person at the keyboard: what went wrong and what to do next.
The CLIs turn them into an exit code, the page into a ``gr.Error``; nothing else catches them silently.
"""

from __future__ import annotations


class QAError(Exception):
    """Base class: anything the user can act on."""


class ConfigError(QAError):
    """A setting (environment variable or flag) has a value we cannot use."""


class InputError(QAError):
    """A question, a number or a file that cannot be used as given."""


class FileRejected(InputError):
    """One file of an ingest batch is unusable; the rest of the batch goes on."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class StoreError(QAError):
    """The vector store cannot be opened, read or written."""


class EmbedderMismatch(StoreError):
    """The store was built with another embedder; its vectors would be meaningless for our queries."""


class StoreBusy(StoreError):
    """Another ingest holds the store's write lock."""


class LLMError(QAError):
    """The language model endpoint failed: down, too slow, or answering nonsense."""


class ProcessError(QAError):
    """A child server (the local model, a page, a Chroma server) exited or did not answer in time."""


class RequestTooLarge(InputError):
    """An HTTP request body larger than the API accepts."""


class NotAuthorized(QAError):
    """An HTTP request without the API token the server requires."""


class NotFound(InputError):
    """Something asked for by id that does not exist, or is not the asking user's."""


class ConversationsError(QAError):
    """The database of saved conversations cannot be read or written (corrupt, locked, not writable)."""
