"""The ``cnn-backprop`` command: a thin shell that parses options, calls the package, formats results.

Every user error ends in one line on stderr and exit status 2, with no traceback.
"""

import argparse
import os
import sys

from . import __version__, explain, files, gradcheck, walkthrough
from .validate import InputError


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: usage is one ``--help`` away."""

    def error(self, message):
        raise InputError(f"{message} (see '{self.prog} --help')")


def seed_option(parser):
    parser.add_argument("--seed", type=int, default=0,
                        help="random seed; the same seed gives the same numbers on every machine (default: 0)")


def add_walkthrough(commands):
    p = commands.add_parser(
        "walkthrough", help="one forward and one backward pass, every number shown",
        description="Answer the seed notebook's exercise for one instance: (1) the output sizes of the "
                    "conv and pooling layers, (2) each layer's values before activation, (3) every "
                    "gradient, down to dL/dkernel.")
    seed_option(p)
    p.add_argument("--pool-stride", type=int, metavar="S",
                   help="max-pooling stride (default 1, or the given file's; 2 leaves one FC input)")
    p.add_argument("--given", metavar="FILE",
                   help="JSON object with any of: " + ", ".join(walkthrough.GIVEN_KEYS)
                        + "; the rest is drawn from --seed")
    p.add_argument("--explain", action="store_true",
                   help="show the arithmetic of every step (products and sums), to check by hand")
    p.add_argument("--decimals", type=int, default=4, metavar="D",
                   help="decimals shown in text (default: 4; --json always has every digit)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--figures", metavar="DIR", help="write PNG figures of the pass into DIR")
    p.set_defaults(run=run_walkthrough)


def load_given(args):
    given = files.read_json(args.given) if args.given else {}
    where = args.given or "the given values"
    if args.pool_stride is not None:
        if not isinstance(given, dict):
            walkthrough.check_given(given, where)
        given = {**given, "pool_stride": args.pool_stride}
        where = f"{where} with --pool-stride {args.pool_stride}" if args.given else "--pool-stride"
    return walkthrough.complete_given(given, args.seed, where)


def run_walkthrough(args):
    if args.decimals < 0:
        raise InputError(f"--decimals must be >= 0, got {args.decimals}")
    given = load_given(args)
    directory = files.output_dir(args.figures) if args.figures else None
    result = walkthrough.run(given)
    if args.json:
        print(walkthrough.to_json(result))
    else:
        print(explain.format_walkthrough(result, explain=args.explain, decimals=args.decimals))
    if directory is not None:
        from .figures import walkthrough_figures  # Matplotlib loads only when figures are asked for
        paths = walkthrough_figures(result, directory)
        print(f"wrote {len(paths)} figures to {directory}/", file=sys.stderr if args.json else sys.stdout)
    return 0


def add_gradcheck(commands):
    p = commands.add_parser(
        "gradcheck", help="compare every analytic gradient with central finite differences",
        description="Run one forward/backward pass, then perturb every parameter entry by +-h and "
                    "compare. Prints the max relative error per parameter; exit status 1 if any "
                    f"exceeds {gradcheck.TOLERANCE:g}.")
    seed_option(p)
    p.add_argument("--pool-stride", type=int, metavar="S", help="max-pooling stride (default 1)")
    p.add_argument("--given", metavar="FILE", help="the exercise instance to check (as for walkthrough)")
    p.set_defaults(run=run_gradcheck)


def run_gradcheck(args):
    given = load_given(args)
    network, image, label = walkthrough.network_for(given)
    results = gradcheck.check_network(network, image, label)
    worst = 0.0
    print(f"central differences, h = {gradcheck.STEP:g}; max relative error per gradient:")
    for name, (_, _, error) in results.items():
        verdict = "ok" if error <= gradcheck.TOLERANCE else "FAIL"
        print(f"  dL/d{name:<12} {error:.3e}  {verdict}")
        worst = max(worst, error)
    passed = worst <= gradcheck.TOLERANCE
    print(f"{'passed' if passed else 'FAILED'}: worst {worst:.3e} (tolerance {gradcheck.TOLERANCE:g})")
    return 0 if passed else 1


def build_parser():
    parser = Parser(prog="cnn-backprop",
                    description="Backpropagation through a small CNN, from scratch in NumPy: "
                                "every number of a forward and backward pass, checked.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True
    add_walkthrough(commands)
    add_gradcheck(commands)
    return parser


def main(argv=None):
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except InputError as error:
        print(f"cnn-backprop: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        print("cnn-backprop: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
