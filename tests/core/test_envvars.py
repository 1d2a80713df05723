"""Every option of every command reads RTS_<TOOL>_<OPTION> (CONTRACT §1), OPTION being
its long name upper-cased with - as _, for subcommands too."""

import importlib

import click
import pytest

TOOLS = ["synth", "prep", "train", "infer", "ensemble", "aggregate", "validate", "volume"]
# values the options' own checks accept (an option not listed gets one from its type)
VALUES = {"device": "cpu", "bands": "notcvis", "arch": "Unet", "encoder": "resnet18", "decoder_channels": "8,4,2",
          "val_scenes": "20220101_000000_00_0000", "name": "mine", "water_classes": "1,2", "weights": "tcvis=2",
          "group_by": "year", "years": "2021,2022", "models": "tcvis,notcvis", "preprocessing": "tpi_radius_m=50",
          "size_bounds_m2": "500,5000", "thresholds": "0.3,0.6", "landcover_classes": "1=lake", "scl_invalid": "0,1",
          "bounds": "0,0,10,10", "confounders": "scarp=2", "rts_free_regions": "1",
          "workers": "97"}  # workers: default all cores, so a count no machine here has


def commands():
    for tool in TOOLS:
        main = importlib.import_module(f"rts_{tool}.cli").main
        if isinstance(main, click.Group):
            for name, sub in main.commands.items():
                yield f"rts-{tool}", main, sub, name
        else:
            yield f"rts-{tool}", None, main, None


def options():
    for tool, group, command, sub in commands():
        for option in command.params:
            if isinstance(option, click.Option) and option.expose_value:
                yield pytest.param(tool, group, command, sub, option, id=f"{tool} {sub or ''} {option.opts[-1]}")


def value_for(option: click.Option, tmp_path):
    """A command-line value the option accepts that differs from its default."""
    key = option.name.replace("-", "_")
    long = max((o for o in option.opts if o.startswith("--")), key=len).lstrip("-").replace("-", "_")
    if option.is_flag:
        return None
    if long in VALUES:
        return VALUES[long]
    kind = option.type
    if isinstance(kind, click.Choice):
        return next(c for c in kind.choices if c != option.default)
    if isinstance(kind, click.Path):
        target = tmp_path / f"{key}_value"
        if kind.dir_okay and not kind.file_okay:
            if kind.exists:
                target.mkdir(exist_ok=True)
            return str(target)
        target.write_text("x")
        return str(target)
    if isinstance(kind, (click.IntRange, click.FloatRange)) or kind in (click.INT, click.FLOAT):
        low, high = getattr(kind, "min", None), getattr(kind, "max", None)
        default = option.default if isinstance(option.default, (int, float)) else None
        start = default if default is not None else (low if low is not None else 0)
        whole = isinstance(kind, click.IntRange) or kind is click.INT
        for candidate in (start + 1, start * 0.5 if not whole else start - 1, low, high):
            if candidate is None or candidate == default:
                continue
            if (low is None or candidate >= low) and (high is None or candidate <= high):
                return str(int(candidate) if whole else float(candidate))
    return "value-x"


def base_args(command, tmp_path, skip):
    """The arguments and required options the command needs besides ``skip``."""
    args = []
    for param in command.params:
        if param is skip:
            continue
        if isinstance(param, click.Argument) and param.required:
            target = tmp_path / f"arg_{param.name}"
            target.write_text("x")
            args.append(str(target))
        elif isinstance(param, click.Option) and param.required:
            args += [param.opts[0], value_for(param, tmp_path)]
    return args


def parsed(tool, group, command, sub, args):
    if group is None:
        return command.make_context(tool, list(args)).params
    parent = group.make_context(tool, [sub], resilient_parsing=True)
    return command.make_context(sub, list(args), parent=parent).params


@pytest.mark.parametrize("tool, group, command, sub, option", list(options()))
def test_every_option_reads_its_environment_variable(tool, group, command, sub, option, tmp_path, monkeypatch):
    long = max((o for o in option.opts if o.startswith("--")), key=len)
    variable = f"{tool.upper().replace('-', '_')}_{long.lstrip('-').upper().replace('-', '_')}"
    value = value_for(option, tmp_path)
    args = base_args(command, tmp_path, skip=option)
    for name in [n for n in __import__("os").environ if n.startswith("RTS_")]:  # none from the caller's shell
        monkeypatch.delenv(name)
    given = parsed(tool, group, command, sub, args + ([long] if value is None else [long, value]))[option.name]
    if not option.required:  # a required option has no default to differ from
        default = parsed(tool, group, command, sub, args)[option.name]
        assert given != default, f"{long}: pick a value that differs from the default"
    monkeypatch.setenv(variable, "1" if value is None else value)
    from_environment = parsed(tool, group, command, sub, args)[option.name]
    assert from_environment == given, f"{variable} is not honoured as {long}"
