"""overdue package."""
