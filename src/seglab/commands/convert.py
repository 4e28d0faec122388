"""``seglab convert``: annotations between PNG masks, COCO JSON and LabelMe JSON."""

from __future__ import annotations

import argparse

from seglab.commands._common import LibraryChoices

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``convert`` subcommand to ``subparsers`` (``add_subparsers()``'s result)."""
    parser = subparsers.add_parser(
        "convert", help="convert annotations between PNG masks, COCO JSON and LabelMe JSON"
    )
    parser.add_argument("src", help="PNG mask folder, COCO JSON file or LabelMe folder")
    parser.add_argument("dst", help="output folder (png, labelme) or JSON file (coco)")
    formats = LibraryChoices("seglab.annotations.folders", "FORMATS")
    parser.add_argument(
        "--from",
        dest="src_format",
        required=True,
        choices=formats,
        metavar="FORMAT",
        help="format of SRC: %(choices)s",
    )
    parser.add_argument(
        "--to",
        dest="dst_format",
        required=True,
        choices=formats,
        metavar="FORMAT",
        help="format of DST: %(choices)s",
    )
    parser.add_argument(
        "--class-names",
        nargs="+",
        default=None,
        help="class names in index order (default: classes.txt or the file's own)",
    )
    parser.add_argument(
        "--encoding",
        default="polygon",
        choices=LibraryChoices("seglab.annotations.coco", "ENCODINGS"),
        metavar="ENCODING",
        help="COCO segmentation encoding: %(choices)s (default: %(default)s)",
    )
    parser.add_argument(
        "--max-vertices", type=int, default=None, help="polygon vertex budget per object"
    )
    parser.add_argument(
        "--tolerance", type=float, default=None, help="Douglas-Peucker tolerance in pixels"
    )
    parser.add_argument(
        "--image-ext", default=".jpg", help="image extension written into the JSON files"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Run :func:`seglab.annotations.convert_annotations`; returns the exit code, 0."""
    from seglab.annotations import convert_annotations

    written = convert_annotations(
        args.src,
        args.dst,
        src_format=args.src_format,
        dst_format=args.dst_format,
        class_names=args.class_names,
        encoding=args.encoding,
        max_vertices=args.max_vertices,
        tolerance=args.tolerance,
        image_ext=args.image_ext,
    )
    print(f"{len(written)} file(s) written to {args.dst}")
    return 0
