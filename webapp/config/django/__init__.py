"""Django settings per environment: base, local, production, test."""
