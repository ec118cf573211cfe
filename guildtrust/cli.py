"""The `guildtrust` command: pull, report, manifest, tokens.

The server comes from --url or GUILDTRUST_URL; the lease token only from GUILDTRUST_TOKEN (a
secret on the command line ends up in shell history and in `ps`). The exit status says what
went wrong (guildtrust.errors: EXIT_CODES, also in the README)."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys

from . import __version__, errors
from .http import Connection
from .lease import Lease, _size
from .report import BATCH_MAX, report_file


def _epilog() -> str:
    lines = ["exit status:"]
    lines += [f"  {code:>2}  {text}" for code, text in sorted(errors.EXIT_CODES.items())]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url", default=os.environ.get("GUILDTRUST_URL"), help="the trust (or GUILDTRUST_URL)"
    )
    common.add_argument("--lease", type=int, required=True, help="the lease's id")
    parser = argparse.ArgumentParser(
        prog="guildtrust",
        description="Pull a Guildtrust lease's assets and report their use. The lease token is read "
        "from GUILDTRUST_TOKEN.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"guildtrust {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    pull = commands.add_parser("pull", parents=[common], help="download every asset of the lease, verified")
    pull.add_argument("--to", required=True, help="folder to pull into (created; run again to resume)")
    pull.add_argument("--jobs", type=int, default=8, help="downloads at once (default 8)")
    pull.add_argument("--quiet", action="store_true", help="no progress bar")
    pull.add_argument("--summary", help="also write the summary as JSON to this file (for scripts)")
    pull.add_argument(
        "--c2pa", action="store_true", help="also save each image, audio and video's C2PA sidecar (NAME.c2pa)"
    )

    report = commands.add_parser("report", parents=[common], help="send usage events from a JSON-lines file")
    report.add_argument("--file", required=True, help="one event per line: kind, quantity, occurred_at, ...")
    report.add_argument("--batch", type=int, default=BATCH_MAX, help=f"events per request (max {BATCH_MAX})")

    manifest = commands.add_parser("manifest", parents=[common], help="print the lease's manifest (JSON)")
    manifest.add_argument("--out", help="write it to this file instead of standard output")

    tokens = commands.add_parser(
        "tokens",
        parents=[common],
        help="list, mint or revoke the lease's tokens (studio staff: GUILDTRUST_USER_TOKEN, or --username)",
    )
    tokens.add_argument("action", choices=["list", "mint", "revoke"], nargs="?", default="list")
    tokens.add_argument("--name", help="mint: the new token's name")
    tokens.add_argument("--days", type=int, help="mint: lifetime in days (default: to the lease's end)")
    tokens.add_argument("--id", type=int, help="revoke: the token's id")
    tokens.add_argument("--username", help="sign in as this studio staff login (password asked)")
    return parser


def _url(args) -> str:
    if not args.url:
        raise errors.UsageError("which trust? pass --url or set GUILDTRUST_URL")
    return args.url


def _lease(args, jobs: int = 8) -> Lease:
    token = os.environ.get("GUILDTRUST_TOKEN", "")
    if not token:
        raise errors.UsageError("set GUILDTRUST_TOKEN to the lease token (lt_... or ft_...)")
    return Lease(Connection(_url(args), token, jobs=jobs), args.lease)


def _say(*lines: str) -> None:
    for line in lines:
        print(line, file=sys.stderr)


def cmd_pull(args) -> int:
    with _lease(args, jobs=args.jobs) as lease:
        summary = lease.download(args.to, jobs=args.jobs, progress=not args.quiet and sys.stderr.isatty())
        if args.c2pa and summary.stopped_by is None:
            try:
                sidecars = lease.save_provenance(args.to, jobs=args.jobs)
            except errors.GuildtrustError as error:
                summary.stopped_by = error
            else:
                _say(f"C2PA sidecars: {len(sidecars)} saved beside their files")
    _say(*summary.lines())
    if args.summary:
        with open(args.summary, "w", encoding="utf-8") as out:
            json.dump(summary.as_dict(), out, indent=1)
    if summary.exit_code:
        _say(f"guildtrust: {errors.EXIT_CODES.get(summary.exit_code, 'failed')} (exit {summary.exit_code})")
    return summary.exit_code


def cmd_report(args) -> int:
    with _lease(args) as lease:
        summary = report_file(lease, args.file, batch=args.batch, echo=_say)
    _say(
        f"{summary.sent} events sent ({summary.accepted} new, {summary.duplicates} already known); "
        f"{summary.already_sent} lines were delivered by an earlier run"
    )
    return errors.OK


def cmd_manifest(args) -> int:
    with _lease(args) as lease:
        manifest = lease.manifest
    text = json.dumps(manifest, indent=1, ensure_ascii=False)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            out.write(text + "\n")
        total = sum(int(a.get("size") or 0) for a in manifest["assets"])
        _say(f"{len(manifest['assets'])} assets, {_size(total)}, written to {args.out}")
    else:
        print(text)
    return errors.OK


def _staff_connection(args) -> Connection:
    url = _url(args)
    secret = os.environ.get("GUILDTRUST_USER_TOKEN", "")
    if args.username:
        password = getpass.getpass(f"password for {args.username}: ")
        signin = Connection(url, "", jobs=1)
        answer = signin.call(
            "POST",
            signin.api("auth/token/"),
            authorized=False,
            json={"username": args.username, "password": password},
        ).json()
        secret = answer.get("token", "")
    if not secret:
        raise errors.UsageError(
            "tokens needs studio staff: set GUILDTRUST_USER_TOKEN (ut_...) or pass --username"
        )
    return Connection(url, secret, jobs=1)


def cmd_tokens(args) -> int:
    staff = _staff_connection(args)
    base = staff.api(f"leases/{args.lease}/tokens/")
    if args.action == "mint":
        if not args.name:
            raise errors.UsageError("tokens mint needs --name")
        body = {"name": args.name} | ({"lifetime_days": args.days} if args.days else {})
        minted = staff.call("POST", base, json=body).json()
        _say(f"token {minted['id']} '{minted['name']}' expires {minted['expires_at']}; shown once:")
        print(minted["token"])
        return errors.OK
    if args.action == "revoke":
        if not args.id:
            raise errors.UsageError("tokens revoke needs --id")
        staff.call("DELETE", f"{base}{args.id}/")
        _say(f"token {args.id} revoked")
        return errors.OK
    url = base
    print(f"{'id':>6}  {'state':<11} {'expires':<25} {'last used':<25} name")
    while url:
        page = staff.call("GET", url).json()
        for token in page["results"]:
            print(
                f"{token['id']:>6}  {token['state']:<11} {token['expires_at'] or '-':<25} "
                f"{token['last_used_at'] or '-':<25} {token['name']}"
            )
        url = page.get("next")
    return errors.OK


COMMANDS = {"pull": cmd_pull, "report": cmd_report, "manifest": cmd_manifest, "tokens": cmd_tokens}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except errors.GuildtrustError as error:
        _say(f"guildtrust: {error}")
        _say(f"guildtrust: {errors.EXIT_CODES.get(error.exit_code, 'failed')} (exit {error.exit_code})")
        return error.exit_code
    except KeyboardInterrupt:
        _say("guildtrust: interrupted; run the same command again to resume")
        return 130


if __name__ == "__main__":
    sys.exit(main())
