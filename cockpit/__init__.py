"""cockpit: a terminal training cockpit for deep reinforcement learning."""

__version__ = "0.1.0"
