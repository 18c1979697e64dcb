"""Security Brief: world-news feeds in, one calm daily security brief out."""

__version__ = "0.1.0"
