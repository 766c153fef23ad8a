"""Framework-free session services: passwords, refresh tokens, login throttling, AuthService."""
