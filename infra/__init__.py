"""Infrastructure code that is not a service: the local cloud, seed data, API docs, the layer build."""
