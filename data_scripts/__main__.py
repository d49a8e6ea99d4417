"""Fetch the real data sets, build their synthetic stand-ins, or seed the cache.

Examples
--------
``python -m data_scripts list``
    every registered data set and what the cache holds
``python -m data_scripts fetch pum2`` / ``fetch all``
    download with a progress bar and verify sha256
``python -m data_scripts synth pum2``
    build the labelled synthetic stand-in
``python -m data_scripts seed ../shared/data``
    copy real files from a local folder into the cache (verified)
``python -m data_scripts prepare [--profile laptop] [--shared ../shared/data] [--offline]``
    what ``make`` runs: cached real files, else copied from a local folder, else downloaded;
    a labelled stand-in only where that fails; ends with a table of what is real
``python -m data_scripts pack OUT [--data NAME ...] [--packages REQ ...] [--no-wheels]``
    an offline course pack: source, wheels, the real files that may be handed on, checksums
    and ``install.sh`` (see :mod:`data_scripts.pack`)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import course_lib.datasets  # noqa: F401  (the catalog: registers every data set)
from course_lib import registry, weights
from course_lib.paths import checkpoints_dir, data_dir
from course_lib.profiles import DEFAULT_PROFILE, check_profile
from data_scripts.pack import PackError
from data_scripts.prepare import download_line, prepare_all


def _names(name: str) -> list[str]:
    if name == "all":
        return sorted(registry.REGISTRY)
    registry.get(name)
    return [name]


def cmd_list(_: argparse.Namespace) -> int:
    print(f"data folder: {data_dir()}  (set COURSE_DATA_DIR to move it)\n")
    for row in registry.describe():
        status = (
            "real" if row["real in cache"] else ("synthetic" if row["synthetic built"] else "-")
        )
        print(f"{row['name']:<24} [{status:<9}] {row['files']}")
        print(f"{'':<24} licence: {row['licence']}; schema: {row['schema']}")
    print(
        f"\nweights (checkpoint folder {checkpoints_dir()}; set COURSE_CHECKPOINT_DIR to move it)\n"
    )
    for name, entry in sorted(weights.WEIGHTS.items()):
        path, provenance = weights.locate_weights(name)
        print(f"{name:<24} [{provenance:<9}] {path or entry.location}")
        detail = (
            "" if path else f"; without it: {entry.stand_in}; to use it: {entry.how_to_place()}"
        )
        print(f"{'':<24} licence: {entry.licence}{detail}")
    for name in ("framepool_models", "optimus_models"):
        print(f"{name:<24} a data set above (published Keras weights, downloaded and checksummed)")
    for folder, recipe in weights.cached_recipes("utr_lm"):
        print(f"{'utr_lm':<24} [course   ] {folder}")
        print(f"{'':<24} pretrained by the course's recipe: {json.dumps(recipe, sort_keys=True)}")
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    failed = []
    for name in _names(args.name):
        missing = registry.files_to_fetch(name, args.force)
        if missing:
            print(download_line(name, missing))
        try:
            folder = registry.fetch(name, force=args.force)
            print(f"{name}: real files verified in {folder}")
        except registry.DataError as err:
            print(f"{name}: {err}", file=sys.stderr)
            failed.append(name)
    return 1 if failed else 0


def cmd_synth(args: argparse.Namespace) -> int:
    for name in _names(args.name):
        print(f"{name}: synthetic stand-in in {registry.synthesize(name, args.seed, args.force)}")
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    source = Path(args.source)
    if not source.is_dir():
        print(f"no folder {source}; nothing seeded", file=sys.stderr)
        return 1
    for name in _names("all"):
        folder = registry.seed_from(name, source)
        if folder:
            print(f"{name}: seeded real files from {source} into {folder}")
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    check_profile(args.profile)
    shared = Path(args.shared) if args.shared else None
    for name in args.data or ():
        registry.get(name)
    prepare_all(args.profile, shared, args.offline, args.timeout, args.data)
    return 0


def cmd_pack(args: argparse.Namespace) -> int:
    from data_scripts.pack import build_pack

    check_profile(args.profile)
    for name in args.data or ():
        registry.get(name)
    print(f"packing into {args.out} (wheels: {'no' if args.no_wheels else 'yes'}) ...")
    manifest = build_pack(args.out, args.data, args.packages, not args.no_wheels, args.profile)
    print(f"packed {len(manifest.sha256)} files from commit {manifest.commit[:12]}:")
    for name, files in manifest.included.items():
        print(f"  {name}: {len(files)} file(s)")
    for name, why in manifest.left_out.items():
        print(f"  left out {name}: {why}")
    print(f"install with no network: sh {Path(args.out) / 'install.sh'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m data_scripts", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the registered data sets").set_defaults(func=cmd_list)
    fetch = sub.add_parser("fetch", help="download real files (NAME or all)")
    fetch.add_argument("name")
    fetch.add_argument("--force", action="store_true", help="download again even if cached")
    fetch.set_defaults(func=cmd_fetch)
    synth = sub.add_parser("synth", help="build a synthetic stand-in (NAME or all)")
    synth.add_argument("name")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--force", action="store_true")
    synth.set_defaults(func=cmd_synth)
    seed = sub.add_parser("seed", help="copy real files from a local folder into the cache")
    seed.add_argument("source")
    seed.set_defaults(func=cmd_seed)
    prepare = sub.add_parser(
        "prepare", help="what make runs: cache, local folder, download, else stand-in"
    )
    prepare.add_argument("--shared", default=None, help="local folder to seed real files from")
    prepare.add_argument(
        "--profile",
        default=DEFAULT_PROFILE,
        help="the profile about to run: data sets only other profiles read are not downloaded",
    )
    prepare.add_argument("--offline", action="store_true", help="never download")
    prepare.add_argument("--data", nargs="+", default=None, help="these data sets only")
    prepare.add_argument(
        "--timeout", type=float, default=60, help="seconds before a silent address is skipped"
    )
    prepare.set_defaults(func=cmd_prepare)
    pack = sub.add_parser("pack", help="an offline course pack (source, wheels, data, checksums)")
    pack.add_argument("out", help="a new (or empty) folder for the pack")
    pack.add_argument("--data", nargs="+", default=None, help="data sets (default: all)")
    pack.add_argument(
        "--packages", nargs="+", default=(), help="wheels of these only (default: everything)"
    )
    pack.add_argument("--no-wheels", action="store_true", help="data and source only")
    pack.add_argument("--profile", default=DEFAULT_PROFILE, help="what install.sh prepares for")
    pack.set_defaults(func=cmd_pack)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (KeyError, ValueError, FileExistsError, PackError) as err:
        print(err.args[0], file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
