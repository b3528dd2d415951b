"""Built-in headless yard simulator."""
