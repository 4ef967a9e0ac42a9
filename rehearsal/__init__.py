"""The delivery rehearsal (`make rehearse`): the CodePipeline stages (Source, Test, Build,
Deploy) run on this machine with the real tools (git, the buildspecs, podman as docker, the
AWS CLI against a moto server, each bundle's CodeDeploy hooks), substituting only what AWS
has and this machine has not (docs/delivery.md lists each substitution).

A tool, not a library: it runs as `python -m rehearsal`, and only its own modules and
tests/rehearsal/ import it. It may import the rest of the repository (local/ for moto and
the data template, the product's own names for what it checks).
"""
