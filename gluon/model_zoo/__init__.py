"""gluon.model_zoo: MXNet 1.9.1's pre-defined models (`vision`), from hybrix.models."""

from . import vision
from .model_store import get_model_file

__all__ = ["get_model_file", "vision"]
