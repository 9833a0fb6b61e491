"""Stack configuration: typed models, GPU/model catalog, capacity plan, loading with clear errors."""

from .capacity import CapacityPlan, Fallback, ModelPlan, PoolPlan
from .errors import ConfigError, Issue
from .loader import Loaded, load, validate
from .models import StackConfig

__all__ = [
    "CapacityPlan", "ConfigError", "Fallback", "Issue", "Loaded", "ModelPlan", "PoolPlan", "StackConfig",
    "load", "validate",
]
