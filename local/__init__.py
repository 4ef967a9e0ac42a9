"""Everything that runs the project on this machine instead of on AWS, in three rooms.

- Local mode (`make up`, `make demo`): the Procfile and what it runs (moto_server,
  telegram_emulator, bootstrap's main, launch), up, demo and processes.
- Test and bench tooling: harness (the stack `make up` runs, started from Python on free
  ports), procfile (the Procfile's commands as argv, for whatever starts one of them),
  lifeline (its processes die with the run that started them), bootstrap's create_resources
  and deploy_data_stack (the data template's resources alone, in moto), servers (loopback
  servers and waits).
- Repository utilities: config (ROOT, the paths of the data template and the Procfile, local
  mode's settings) and samples (the sample photos that ship with yolov5).

tests/, bench/ and rehearsal/ may import from any room; tests/ and bench/ run the whole stack
through the harness, not through up or processes. samples must stay standard library only:
the AWS load test (bench/loadtest.py) imports it in CloudShell. The product (polybot/, yolo5/,
common/, delivery/) imports nothing from local/: what ships must not depend on local mode.
"""
