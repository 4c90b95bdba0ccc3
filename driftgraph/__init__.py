"""driftgraph: what in your AWS accounts is not under code, who owns what, and what has drifted."""

__version__ = "0.1.0"
