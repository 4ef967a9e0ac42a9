"""The recording `aws` that deploy.sh runs against where moto cannot serve it.

moto 5.2.5 cannot serve `aws cloudformation deploy` for our stacks (test_deploy_script.py's
docstring says why), nor CodeStar connections or EC2 service quotas at all. This stand-in
answers what deploy.sh asks and keeps a little state in its directory, so that a run can be
resumed and repeated:

- `stacks`: one NAME or NAME:STATUS per stack (CREATE_COMPLETE when no status is given); a
  `cloudformation deploy` adds its stack, a `delete-stack` removes it.
- `buckets`: the buckets that exist.
- `secret.json`: the bot token secret's value, when there is one.
- `connections`: one `NAME ARN STATUS MANAGEDBY` line per GitHub connection; a PENDING one
  turns AVAILABLE after `handshake-polls` (default 2) get-connection calls.
- `quota`: the account's vCPU quota (32 unless the test writes another).
- `faults`: one line of words per one-shot fault: the first call whose arguments hold every
  word of a line fails (exit 255), and the line is used up, so the next run resumes.
- `regions`: the AWS_REGION each call ran with, one per line.
- `forward`: services (first words) handed to the real AWS CLI ($REAL_AWS_CLI), for tests that
  run against a moto server as far as it serves; the call is recorded first.
- `pipeline-run`, `pipeline-stages`, `deployments-<group>`, `deployment-<id>`: what
  CodePipeline and CodeDeploy answer (moto serves neither as deploy.sh --status asks).

The polybot launch template's newest version is 2 plus the number of app-stack deploys made
before, as when each update changed the template. The HTTPS listener exists once a deploy
gave a stack a CertificateArn. (No braces in the script: it goes through str.format.)
"""

from __future__ import annotations

from pathlib import Path

from tests.cloudformation.recording_aws import install

SCRIPT = """with open(state / "regions", "a") as f:
    f.write(os.environ.get("AWS_REGION", "") + chr(10))
def read(name, default=""):
    path = state / name
    return path.read_text() if path.exists() else default
if args and args[0] in read("forward").split():
    real = os.environ["REAL_AWS_CLI"]
    # awscli v1 sends SQS calls to its legacy endpoint whatever AWS_ENDPOINT_URL says (its
    # update_endpoint_url handler); the option still wins.
    extra = ["--endpoint-url", os.environ["AWS_ENDPOINT_URL"]] if args[0] == "sqs" else []
    os.execv(real, [real] + args + extra)
def done_before(*words):
    made = [json.loads(line) for line in read("calls.jsonl").splitlines()[:-1]]
    return sum(1 for c in made if all(w in c for w in words))
def fail(message, code=255):
    print("An error occurred: " + message, file=sys.stderr)
    sys.exit(code)
faults = read("faults").splitlines()
for i, fault in enumerate(faults):
    if fault and all(w in args for w in fault.split()):
        (state / "faults").write_text(chr(10).join(faults[:i] + faults[i + 1:]))
        fail("injected fault: " + fault)
stacks = dict((w.split(":") + ["CREATE_COMPLETE"])[:2] for w in read("stacks").split())
def save_stacks():
    (state / "stacks").write_text(" ".join(k + ":" + v for k, v in stacks.items()))
buckets = set(read("buckets").split())
connections = [line.split() for line in read("connections").splitlines() if line]
def save_connections():
    (state / "connections").write_text("".join(" ".join(c) + chr(10) for c in connections))
if "--generate-cli-skeleton" in args:
    print("-")
elif command == "cloudformation describe-stacks":
    stack = arg("--stack-name")
    if stack not in stacks:
        fail("(ValidationError) Stack with id " + stack + " does not exist")
    query = arg("--query")
    if "StackStatus" in query:
        print(stacks[stack])
    elif "HttpsListenerArn" in query:
        print("arn:listener" if (state / "listener").exists() else "")
    elif "WorkerMaxSize" in query:
        print(2)
    elif "--query" in args:
        print("value-of-" + query.split("'")[1])
elif command == "cloudformation deploy":
    stacks[arg("--stack-name")] = "CREATE_COMPLETE"
    save_stacks()
    if any(a.startswith("CertificateArn=") for a in args):
        (state / "listener").write_text("")
elif command == "cloudformation delete-stack":
    del stacks[arg("--stack-name")]
    save_stacks()
elif command == "cloudformation package":
    shutil.copyfile(arg("--template-file"), arg("--output-template-file"))
elif command == "ssm get-parameter":
    print(read("latest-ami", "ami-0today"))
elif command == "ec2 describe-launch-templates":
    print(2 + done_before("deploy", "demo-app"))
elif command == "ec2 describe-instance-types":
    for t in args[args.index("--instance-types") + 1:]:
        if t.startswith("--"):
            break
        print(t + chr(9) + ("2" if t.startswith("t3.") else "4"))
elif command == "service-quotas get-service-quota":
    print(read("quota", "32.0"))
elif command == "sts get-caller-identity":
    if (state / "no-credentials").exists():
        fail("Unable to locate credentials", 253)
    print("arn:aws:iam::123456789012:user/ops" if "Arn" in arg("--query") else "123456789012")
elif command == "s3api head-bucket":
    sys.exit(0 if arg("--bucket") in buckets else 254)
elif command == "s3api create-bucket":
    (state / "buckets").write_text(" ".join(buckets | set([arg("--bucket")])))
elif command == "s3api delete-bucket":
    (state / "buckets").write_text(" ".join(buckets - set([arg("--bucket")])))
elif command == "secretsmanager get-secret-value":
    if not (state / "secret.json").exists():
        fail("(ResourceNotFoundException) Secrets Manager can't find the specified secret.", 254)
    print(read("secret.json"))
elif command == "secretsmanager put-secret-value":
    shutil.copyfile(arg("--secret-string").removeprefix("file://"), state / "secret.json")
elif command == "acm import-certificate":
    print("arn:aws:acm:us-east-1:123456789012:certificate/0000-self-signed")
elif command == "codestar-connections list-connections":
    name = arg("--query").split("'")[1]
    print(next((c[1] for c in connections if c[0] == name), "None"))
elif command == "codestar-connections create-connection":
    arn = "arn:aws:codestar-connections:us-east-1:123456789012:connection/" + str(len(connections))
    connections.append([arg("--connection-name"), arn, "PENDING", "deploy.sh"])
    save_connections()
    print(arn)
elif command == "codestar-connections get-connection":
    [c] = [c for c in connections if c[1] == arg("--connection-arn")] or [None]
    if c is None:
        fail("(ResourceNotFoundException) connection not found", 254)
    if c[2] == "PENDING" and done_before("get-connection") >= int(read("handshake-polls", "2")):
        c[2] = "AVAILABLE"
        save_connections()
    print(c[2])
elif command == "codestar-connections list-tags-for-resource":
    print(next(c[3] for c in connections if c[1] == arg("--resource-arn")))
elif command == "codepipeline list-pipeline-executions":
    print(read("pipeline-run", "None"))
elif command == "codepipeline get-pipeline-state":
    print(read("pipeline-stages", "Source:Succeeded"))
elif command == "deploy list-deployments":
    print(read("deployments-" + arg("--deployment-group-name"), "None"))
elif command == "deploy batch-get-deployments":
    for i in args[args.index("--deployment-ids") + 1:]:
        if i.startswith("--"):
            break
        print(read("deployment-" + i), end="")
elif command == "codestar-connections delete-connection":
    connections = [c for c in connections if c[1] != arg("--connection-arn")]
    save_connections()
"""


def install_fake_aws(state: Path, monkeypatch) -> Path:
    """The stand-in first on PATH, with no stacks, buckets, secret or connection yet."""
    for name in ("stacks", "buckets", "connections", "faults"):
        (state / name).write_text("")
    for name in ("POLYBOT_INSTANCE_TYPE", "REPOSITORY", "CONNECTION_ARN", "BRANCH"):
        monkeypatch.delenv(name, raising=False)
    # A connection's handshake is waited for in seconds; the tests' stand-in takes none.
    monkeypatch.setenv("CONNECTION_POLL_SECONDS", "0")
    return install(SCRIPT, state, monkeypatch)
