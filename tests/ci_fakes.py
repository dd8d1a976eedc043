"""Stand-ins for what the CI files talk to: GitHub's artifact store behind a `gh` stub, and
GitLab's jobs API with an object storage on another host.

They keep the services' rules that decide which baseline a job gets, so a template that asks
for the wrong thing gets the wrong answer here too:
- GitHub: artifacts are listed by name, newest first, with `expired`; runs have a conclusion
  (`gh run list --status success` sees only green runs, as the older template asked);
- GitLab: jobs are listed newest first by scope; a job's artifacts download answers with a
  redirect to the storage host (as GitLab.com does), which records the headers it receives;
  `jobs/artifacts/<ref>/download?job=` serves only the latest *successful* pipeline of the ref.
"""

from __future__ import annotations

import datetime
import http.server
import io
import json
import threading
import urllib.parse
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

UTC = datetime.UTC


def stamp(moment: datetime.datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def shown(moment: datetime.datetime) -> str:
    """A date as the CI files print it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def zip_folder(folder: Path, prefix: str = "") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                archive.write(file, prefix + file.relative_to(folder).as_posix())
    return buffer.getvalue()


# --- GitHub: the artifact store and the `gh` stub -------------------------------------------------

GH_STUB = r'''#!/usr/bin/env python3
"""Stand-in for the GitHub CLI: the calls the action and the older template make."""
import json, os, sys, zipfile
from pathlib import Path

store = Path(os.environ["FAKE_GH_STORE"])
args = sys.argv[1:]
with open(store / "calls.log", "a") as log:
    log.write(json.dumps(args) + "\n")
state = json.loads((store / "state.json").read_text())
repo = "repos/" + os.environ["GITHUB_REPOSITORY"] + "/"


def option(name):
    return args[args.index(name) + 1] if name in args else None


if args[:1] == ["api"]:
    if state.get("fail"):
        sys.exit("gh: Resource not accessible by integration (HTTP %s)" % state["fail"])
    endpoint = next(a for a in args[1:] if a.startswith("repos/"))
    assert endpoint.startswith(repo), endpoint
    fields = dict(args[i + 1].split("=", 1) for i, a in enumerate(args) if a == "-f")
    if endpoint == repo + "actions/artifacts":
        assert option("--method") == "GET", args
        if state.get("listing") is not None:
            sys.stdout.write(state["listing"])
            sys.exit(0)
        rows = [dict(a, workflow_run={"id": a["run"]}) for a in state["artifacts"]
                if a["name"] == fields["name"]]
        rows.sort(key=lambda a: -a["id"])
        print(json.dumps({"total_count": len(rows), "artifacts": rows}))
    elif endpoint.endswith("/zip"):
        archive = store / (endpoint.split("/")[-2] + ".zip")
        if not archive.is_file():
            sys.exit("gh: Not Found (HTTP 404)")
        sys.stdout.buffer.write(archive.read_bytes())
    else:
        sys.exit("gh stub: unexpected endpoint %s" % endpoint)
elif args[:2] == ["run", "list"]:
    assert option("--jq") == ".[0].databaseId // empty", args
    runs = [r for r in state["runs"] if r["conclusion"] == (option("--status") or r["conclusion"])
            and r["event"] == (option("--event") or r["event"])]
    print(max((r["id"] for r in runs), default=""))
elif args[:2] == ["run", "download"]:
    run, name, target = int(args[2]), option("--name"), option("--dir")
    found = [a for a in state["artifacts"] if a["run"] == run and a["name"] == name]
    if not found:
        sys.exit("no valid artifacts found to download")
    with zipfile.ZipFile(store / ("%d.zip" % found[0]["id"])) as archive:
        archive.extractall(target)
else:
    sys.exit("gh stub: unexpected call %s" % args)
'''


class ArtifactStore:
    """GitHub's artifacts and workflow runs of one repository, in a folder the stub reads."""

    def __init__(self, folder: Path, stubs: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        stubs.mkdir(parents=True, exist_ok=True)
        (stubs / "gh").write_text(GH_STUB, encoding="utf-8")
        (stubs / "gh").chmod(0o755)
        self._save({"artifacts": [], "runs": [], "fail": None, "listing": None})

    def _load(self) -> dict[str, Any]:
        state: dict[str, Any] = json.loads((self.folder / "state.json").read_text())
        return state

    def _save(self, state: dict[str, Any]) -> None:
        (self.folder / "state.json").write_text(json.dumps(state), encoding="utf-8")

    def upload(self, name: str, source: Path, run: int, retention_days: int) -> dict[str, Any]:
        """What actions/upload-artifact does with `path:` `source` (its content at the root)."""
        state = self._load()
        now = datetime.datetime.now(UTC)
        artifact = {"id": 1000 + len(state["artifacts"]), "name": name, "run": run,
                    "expired": False, "created_at": stamp(now),
                    "expires_at": stamp(now + datetime.timedelta(days=retention_days))}
        (self.folder / f"{artifact['id']}.zip").write_bytes(zip_folder(source))
        state["artifacts"].append(artifact)
        self._save(state)
        return artifact

    def finish(self, run: int, conclusion: str, event: str = "schedule") -> None:
        state = self._load()
        state["runs"].append({"id": run, "conclusion": conclusion, "event": event})
        self._save(state)

    def expire_all(self) -> None:
        """Retention ran out (the artifacts are as if uploaded 91 days ago and kept 90): they
        stay listed with `expired`, their content is gone."""
        state = self._load()
        now = datetime.datetime.now(UTC)
        for artifact in state["artifacts"]:
            artifact.update(expired=True, created_at=stamp(now - datetime.timedelta(days=91)),
                            expires_at=stamp(now - datetime.timedelta(days=1)))
            (self.folder / f"{artifact['id']}.zip").unlink(missing_ok=True)
        self._save(state)

    def set(self, **values: Any) -> None:
        """`fail="403"`: every `gh api` call fails; `listing=text`: the artifact list served."""
        state = self._load()
        state.update(values)
        self._save(state)

    def artifacts(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self._load()["artifacts"]
        return rows

    def calls(self) -> list[list[str]]:
        log = self.folder / "calls.log"
        lines = log.read_text().splitlines() if log.exists() else []
        return [json.loads(line) for line in lines]


# --- GitLab: the jobs API and the object storage ------------------------------------------------

@dataclass
class FakeJob:
    id: int
    name: str
    status: str
    pipeline: int
    finished_at: datetime.datetime
    expire_at: datetime.datetime | None
    archive: bytes | None

    def row(self, pipelines: dict[int, FakePipeline]) -> dict[str, Any]:
        pipeline = pipelines[self.pipeline]
        files = [{"file_type": "archive", "filename": "artifacts.zip",
                  "size": len(self.archive)}] if self.archive is not None else []
        return {"id": self.id, "name": self.name, "status": self.status, "ref": pipeline.ref,
                "finished_at": stamp(self.finished_at).replace("Z", ".123Z"),
                "artifacts_expire_at": stamp(self.expire_at) if self.expire_at else None,
                "artifacts": files,
                "pipeline": {"id": pipeline.id, "ref": pipeline.ref, "status": pipeline.status,
                             "source": pipeline.source}}


@dataclass
class FakePipeline:
    id: int
    ref: str
    status: str
    source: str


@dataclass
class Seen:
    host: str
    path: str
    headers: dict[str, str]


@dataclass
class FakeGitLab:
    """Project 42 on a GitLab whose artifacts live on another host (127.0.0.2)."""

    token: str = "glpat-fake-api-token"
    job_token: str = "fake-job-token"
    jobs: list[FakeJob] = field(default_factory=list)
    pipelines: dict[int, FakePipeline] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    listing: bytes | None = None
    api: str = ""
    storage: str = ""

    def pipeline(self, status: str, source: str = "schedule", ref: str = "main") -> FakePipeline:
        made = FakePipeline(len(self.pipelines) + 1, ref, status, source)
        self.pipelines[made.id] = made
        return made

    def add_job(self, name: str, status: str, pipeline: FakePipeline,
                archive: bytes | None, keep_days: int = 90) -> FakeJob:
        now = datetime.datetime.now(UTC)
        job = FakeJob(len(self.jobs) + 1, name, status, pipeline.id, now,
                      now + datetime.timedelta(days=keep_days) if archive else None, archive)
        self.jobs.append(job)
        return job

    def expire(self, job: FakeJob) -> None:
        job.expire_at = datetime.datetime.now(UTC) - datetime.timedelta(days=1)
        job.archive = None

    def tokens_at(self, host: str) -> list[str]:
        """Every token header value a host received."""
        return [value for s in self.seen if s.host == host for key, value in s.headers.items()
                if key.lower() in ("private-token", "job-token", "authorization")]

    # --- the two servers -------------------------------------------------------------------

    def _api_answer(self, path: str, query: dict[str, list[str]],
                    headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        api_token = headers.get("private-token") == self.token
        job_token = headers.get("job-token") == self.job_token
        base = "/api/v4/projects/42/jobs"
        if path == base:
            if not api_token:
                return 401, {}, b'{"message":"401 Unauthorized"}'
            if self.listing is not None:
                return 200, {}, self.listing
            scopes = query.get("scope[]", [])
            rows = [j.row(self.pipelines) for j in sorted(self.jobs, key=lambda j: -j.id)
                    if not scopes or j.status in scopes]
            per_page, page = int(query["per_page"][0]), int(query.get("page", ["1"])[0])
            return 200, {}, json.dumps(rows[(page - 1) * per_page: page * per_page]).encode()
        if not (api_token or job_token):
            return 401, {}, b'{"message":"401 Unauthorized"}'
        if path.startswith(base + "/artifacts/") and path.endswith("/download"):
            ref, name = path.split("/")[-2], query.get("job", [""])[0]
            green = [p for p in self.pipelines.values() if p.ref == ref and p.status == "success"]
            latest = max(green, key=lambda p: p.id, default=None)
            found = [j for j in self.jobs if latest and j.pipeline == latest.id
                     and j.name == name and j.archive is not None]
            return self._to_storage(found[0] if found else None)
        if path.startswith(base + "/") and path.endswith("/artifacts"):
            job_id = path.split("/")[-2]
            found = [j for j in self.jobs if str(j.id) == job_id and j.archive is not None]
            return self._to_storage(found[0] if found else None)
        return 404, {}, b'{"message":"404 Not Found"}'

    def _to_storage(self, job: FakeJob | None) -> tuple[int, dict[str, str], bytes]:
        if job is None:
            return 404, {}, b'{"message":"404 Not Found"}'
        return 302, {"Location": f"{self.storage}/blob/{job.id}?X-Amz-Signature=fake"}, b""

    def _storage_answer(self, path: str) -> tuple[int, dict[str, str], bytes]:
        found = [j for j in self.jobs if path == f"/blob/{j.id}" and j.archive is not None]
        if not found or found[0].archive is None:
            return 404, {}, b"<Error>NoSuchKey</Error>"
        return 200, {"Content-Type": "application/zip"}, found[0].archive

    def _handler(self, host: str) -> type[http.server.BaseHTTPRequestHandler]:
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                headers = {k.lower(): v for k, v in self.headers.items()}
                fake.seen.append(Seen(host, url.path, dict(self.headers.items())))
                if host == "api":
                    code, extra, body = fake._api_answer(
                        url.path, urllib.parse.parse_qs(url.query), headers)
                else:
                    code, extra, body = fake._storage_answer(url.path)
                self.send_response(code)
                for key, value in extra.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        return Handler

    @contextmanager
    def running(self) -> Iterator[FakeGitLab]:
        api = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler("api"))
        storage = http.server.ThreadingHTTPServer(("127.0.0.2", 0), self._handler("storage"))
        self.api = f"http://127.0.0.1:{api.server_address[1]}/api/v4"
        self.storage = f"http://127.0.0.2:{storage.server_address[1]}"
        for server in (api, storage):
            threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield self
        finally:
            for server in (api, storage):
                server.shutdown()
                server.server_close()

    def job_env(self, job_name: str, job_id: int) -> dict[str, str]:
        """The predefined variables of a GitLab job in project 42."""
        return {"CI_API_V4_URL": self.api, "CI_PROJECT_ID": "42", "CI_JOB_NAME": job_name,
                "CI_JOB_ID": str(job_id), "CI_JOB_TOKEN": self.job_token,
                "CI_DEFAULT_BRANCH": "main", "CI_COMMIT_REF_NAME": "main",
                "CI_PIPELINE_SOURCE": "schedule"}
