"""``signbridge storage up|down|status|ls|put|get``."""
from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    from signbridge.cli import add_common, add_json, hidden_alias

    p = sub.add_parser("storage", help="run the embedded S3 store (SeaweedFS) and move objects",
                       description="Manage the embedded SeaweedFS S3 store (127.0.0.1 only) and move objects.")
    ssub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, help_ in [("up", "start the embedded store and wait until it is healthy"),
                        ("down", "stop the embedded store (by PID)"),
                        ("status", "show whether the embedded store runs and where"),
                        ("env", "print export lines for AWS_* to use the embedded store from other tools")]:
        q = ssub.add_parser(name, help=help_)
        add_common(q)
        q.add_argument("--port", dest="s3_port", type=int, help="S3 port (SIGNBRIDGE_S3_PORT)")
        add_json(q, "the store's state" if name != "env" else "the variables")
        q.set_defaults(func=_run)
    q = ssub.add_parser("ls", help="list objects under an s3:// or local prefix")
    add_common(q)
    q.add_argument("uri")
    add_json(q, "the objects (key, URI, size, etag)")
    q.set_defaults(func=_ls)
    q = ssub.add_parser("put", help="upload a file")
    add_common(q)
    q.add_argument("path")
    q.add_argument("uri", help="destination s3://bucket/key")
    add_json(q, "the object's URI")
    q.set_defaults(func=_put)
    q = ssub.add_parser("get", help="download an object, or every object under a prefix",
                        description="Download one object to PATH, or (a URI ending in '/', --recursive, or a "
                                    "prefix that is not an object) every object under it into the folder PATH, "
                                    "keeping the keys' folders. Parallel; files already there with the right "
                                    "checksum are kept, so an interrupted copy resumes; every copy is checked "
                                    "against the object: its size, and its content by the store's "
                                    "checksum (a flexible checksum, else the ETag as an MD5 with the real part "
                                    "sizes; an ETag that is no MD5, as for SSE-KMS, is warned about).")
    add_common(q)
    q.add_argument("uri")
    q.add_argument("path", nargs="?", help="destination file or folder (default: the object's name, or '.')")
    q.add_argument("-r", "--recursive", action=argparse.BooleanOptionalAction, default=False,
                   help="URI is a prefix: copy everything under it")
    q.add_argument("-j", "--jobs", type=int, default=8, help="parallel downloads (default 8)")
    hidden_alias(q, "--threads", "jobs", type=int)  # deprecated: --threads means torch threads elsewhere
    add_json(q, "every file copied and whether it was already there")
    q.set_defaults(func=_get)


def _run(args) -> int:
    from signbridge.cli import emit, settings_from_args
    from signbridge.storage.embedded import EmbeddedStore

    store = EmbeddedStore(settings_from_args(args))
    if args.action == "up":
        st = store.up()
        if not emit(args, {**st.__dict__, "credentials": str(store.cred_file)}):
            print(f"SeaweedFS S3 is up at {st.endpoint} (pid {st.pid}, data {st.data_dir})")
            print(f"credentials: {store.cred_file}  (`signbridge storage env` prints export lines)")
        return 0
    if args.action == "down":
        stopped = store.down()
        if not emit(args, {"stopped": stopped}):
            print("stopped" if stopped else "not running")
        return 0
    if args.action == "env":
        c = store.credentials()
        env = {"AWS_ENDPOINT_URL": store.endpoint, "AWS_ACCESS_KEY_ID": c["access_key"],
               "AWS_SECRET_ACCESS_KEY": c["secret_key"]}
        if not emit(args, env):
            for k, v in env.items():
                print(f"export {k}={v}")
        return 0
    st = store.status()
    if not emit(args, st.__dict__):
        print(f"{'running' if st.running else 'stopped'}: {st.endpoint} pid={st.pid} data={st.data_dir} ({st.detail})")
    return 0 if st.running else 3


def _split(uri: str):
    if uri.startswith("s3://"):
        bucket, _, key = uri[5:].partition("/")
        return f"s3://{bucket}", key
    from pathlib import Path

    p = Path(uri)
    return str(p.parent), p.name


def _ls(args) -> int:
    from signbridge.cli import emit, settings_from_args
    from signbridge.storage import open_store

    store = open_store(args.uri, settings_from_args(args))
    if args.json:
        emit(args, [{"key": o.key, "uri": store.uri(o.key), "size": o.size, "etag": o.etag} for o in store.list()])
        return 0
    for o in store.list():
        print(f"{o.size:>12}  {store.uri(o.key)}")
    return 0


def _put(args) -> int:
    from signbridge.cli import emit, settings_from_args
    from signbridge.storage import open_store

    root, key = _split(args.uri)
    uri = open_store(root, settings_from_args(args), create=True).put_file(key, args.path)
    if not emit(args, {"uri": uri, "path": args.path}):
        print(uri)
    return 0


def _get(args) -> int:
    from pathlib import Path

    from signbridge.cli import emit, settings_from_args
    from signbridge.storage import open_store
    from signbridge.storage.download import copy_object, copy_prefix

    settings = settings_from_args(args)
    if not args.uri.startswith("s3://") and Path(args.uri).is_dir():
        store, key = open_store(args.uri, settings), ""  # a local folder: everything in it
    else:
        root, key = _split(args.uri.rstrip("/") if args.uri.endswith("/") else args.uri)
        store = open_store(root, settings)
    info = None
    if key and not (args.recursive or args.uri.endswith("/")):
        info = next((o for o in store.list(key) if o.key == key), None)
    if info is not None:
        dest = Path(args.path or Path(key).name)
        if dest.is_dir():
            dest = dest / Path(key).name
        dest.parent.mkdir(parents=True, exist_ok=True)
        c = copy_object(store, info, dest)
        if not emit(args, {"files": [{"uri": c.uri, "path": c.path, "copied": c.fresh}]}):
            print(c.path)
        return 0
    dest = Path(args.path or ".")
    copied = copy_prefix(store, dest, key + "/" if key else "", threads=args.jobs)
    fresh = sum(c.fresh for c in copied)
    unchecked = sum(1 for c in copied if c.warning)
    if not emit(args, {"files": [{"uri": c.uri, "path": c.path, "copied": c.fresh, "warning": c.warning}
                                 for c in copied], "folder": str(dest)}):
        for c in copied:
            print(c.path)
    print(f"{len(copied)} file(s) under {dest} ({fresh} copied, {len(copied) - fresh} already there)"
          + (f"; {unchecked} checked by size only (see the warnings)" if unchecked else ""), file=sys.stderr)
    return 0
