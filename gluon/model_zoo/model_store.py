"""gluon.model_zoo.model_store: where pretrained parameter files are looked up (no downloads)."""

from hybrix.models._store import PretrainedFileError, get_model_file, short_hash

__all__ = ["PretrainedFileError", "get_model_file", "short_hash"]
