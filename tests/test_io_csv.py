"""Tables written for spreadsheets: the same bytes as pandas' own formatting and neutralising."""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner import io


def _reference(df: pd.DataFrame) -> bytes:
    """The straightforward way: every cell mapped, floats formatted by pandas."""

    def safe(v):
        return (
            "'" + v
            if isinstance(v, str) and v.startswith(("=", "+", "-", "@", "\t", "\r", "\n"))
            else v
        )

    out = df.rename(columns=safe)
    for col in out.columns:
        if pd.api.types.is_object_dtype(out[col]) or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(safe)
    text = out.to_csv(index=False, encoding="utf-8-sig", float_format="%.6f", lineterminator="\r\n")
    return text.encode("utf-8-sig")


def test_csv_bytes_match_pandas_formatting_and_cell_by_cell_neutralising(tmp_path):
    rng = np.random.default_rng(7)
    n = 4000
    floats = np.concatenate(
        [
            rng.normal(0, 1000, n - 16),
            # ties at the sixth decimal, signed zeros, tiny negatives, huge and non-finite
            [0.0078125, 2.5e-6, -0.0, -1e-9, 1e-9, 1.0000005, 0.1 + 0.2, 1e15, -1e20],
            [np.nan, np.inf, -np.inf, 113.123456789, 23.5, -7.25, 4.5e-7],
        ]
    )
    names = np.array(["普宁商品城", '=HYPERLINK("x")', "-3", "+cmd", "@a", "\tt", "plain", ""])
    df = pd.DataFrame(
        {
            "minutes": floats,
            "f32": floats.astype(np.float32),
            "n": np.arange(n),
            "nullable": pd.array([1, None] * (n // 2), dtype="Int64"),
            "name": pd.array(names[rng.integers(0, len(names), n)], dtype="str"),
            "mixed": pd.Series([None, 1.5, "=1+1", 3] * (n // 4), dtype=object),
            "flag": rng.integers(0, 2, n).astype(bool),
            "=danger": ["-x"] * n,
        }
    )
    path = io.write_csv(df, tmp_path / "t.csv")
    assert path.read_bytes() == _reference(df)
    text = path.read_text(encoding="utf-8-sig")
    # a few cases pinned: a tie rounded to even, a quoted neutralised formula, the header
    assert "\n0.007812,0.007812," in text
    assert '"\'=HYPERLINK(""x"")"' in text and text.split("\n")[0].endswith(",'=danger")


def test_csv_leaves_the_callers_frame_alone(tmp_path):
    df = pd.DataFrame({"x": [0.5, np.nan], "s": pd.array(["=a", "b"], dtype="str")})
    before = df.copy()
    io.write_csv(df, tmp_path / "t.csv")
    pd.testing.assert_frame_equal(df, before)
