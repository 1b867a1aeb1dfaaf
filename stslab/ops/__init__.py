"""Running the kit for others: workshops on a shared cluster and the headless lab runner."""
