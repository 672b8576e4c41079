"""Identity: users, projects, roles and the signed tokens every service trusts."""
