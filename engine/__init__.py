"""kefu: a policy language and engine for e-commerce customer-service desks."""

__version__ = "0.1.0"
