"""Pipelines (installed as emorecog.pipelines): wiring of the components, nothing else."""
