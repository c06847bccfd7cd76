"""After training: batched prediction (TTA, ensembles), metrics, result files, submissions."""
