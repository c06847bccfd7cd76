"""Looking at runs and data without training: schedules, logs, datasets."""
