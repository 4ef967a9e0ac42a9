"""Continuous delivery helpers: the blue/green deployment-group custom resource and the
fleet switch run by the pipeline's polybot deploy step."""
