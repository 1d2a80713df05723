"""rts_core.runner.read_each: the reading phase of the stages that work on all their
inputs together; one error line per input that cannot be read, the others read."""

from rts_core.errors import InputError
from rts_core.runner import read_each


def test_each_unreadable_input_gets_one_line_and_the_others_are_read(capsys):
    def read(name):
        if name == "b.tif":
            raise InputError("not a raster")
        if name == "c.parquet":
            raise InputError("no CRS", source="c.parquet (its extent)")
        if name == "d.tif":
            raise ZeroDivisionError("division by zero")
        return name.upper()

    read_fine, failed = read_each(["a.tif", "b.tif", "c.parquet", "d.tif", "e.tif"], read)
    assert read_fine == [("a.tif", "A.TIF"), ("e.tif", "E.TIF")]
    assert failed == ["b.tif", "c.parquet", "d.tif"]
    assert capsys.readouterr().err.splitlines() == ["error: b.tif: not a raster",
                                                    "error: c.parquet (its extent): no CRS",
                                                    "error: d.tif: division by zero"]
