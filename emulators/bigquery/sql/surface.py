"""What a query may name: BigQuery's functions and nothing of the engine underneath.

The translator renders to DuckDB, which has hundreds of functions BigQuery does not (file
readers, settings, sleeps, lambdas). A query may only call the functions of BigQuery's
function reference, listed here; anything else is ``Function not found: NAME``, as BigQuery
says it. Table-valued functions in FROM are refused the same way. The check runs on the parsed
tree before any rewrite, so nodes the translator itself adds are never mistaken for the user's.
"""

from __future__ import annotations

from sqlglot import exp

from .errors import SqlError, unsupported
from .syntax import NAME_KEY as _NAME_KEY

# BigQuery's function reference (GoogleSQL for BigQuery, "All functions"), by section.
_REFERENCE = {
    "aggregate": """ANY_VALUE ARRAY_AGG ARRAY_CONCAT_AGG AVG BIT_AND BIT_OR BIT_XOR COUNT
        COUNTIF GROUPING LOGICAL_AND LOGICAL_OR MAX MAX_BY MIN MIN_BY STRING_AGG SUM""",
    "approximate aggregate": """APPROX_COUNT_DISTINCT APPROX_QUANTILES APPROX_TOP_COUNT
        APPROX_TOP_SUM""",
    "statistical aggregate": """CORR COVAR_POP COVAR_SAMP STDDEV STDDEV_POP STDDEV_SAMP
        VAR_POP VAR_SAMP VARIANCE""",
    "HyperLogLog++": """HLL_COUNT.EXTRACT HLL_COUNT.INIT HLL_COUNT.MERGE
        HLL_COUNT.MERGE_PARTIAL""",
    "KLL quantile": """KLL_QUANTILES.EXTRACT_INT64 KLL_QUANTILES.EXTRACT_FLOAT64
        KLL_QUANTILES.EXTRACT_POINT_INT64 KLL_QUANTILES.EXTRACT_POINT_FLOAT64
        KLL_QUANTILES.INIT_INT64 KLL_QUANTILES.INIT_FLOAT64 KLL_QUANTILES.MERGE_INT64
        KLL_QUANTILES.MERGE_FLOAT64 KLL_QUANTILES.MERGE_PARTIAL KLL_QUANTILES.MERGE_POINT_INT64
        KLL_QUANTILES.MERGE_POINT_FLOAT64""",
    "array": """ARRAY ARRAY_CONCAT ARRAY_FIRST ARRAY_LAST ARRAY_LENGTH ARRAY_REVERSE ARRAY_SLICE
        ARRAY_TO_STRING GENERATE_ARRAY GENERATE_DATE_ARRAY GENERATE_RANGE_ARRAY
        GENERATE_TIMESTAMP_ARRAY""",
    "bit": "BIT_COUNT",
    "conversion": """BOOL CAST CODE_POINTS_TO_BYTES CODE_POINTS_TO_STRING FLOAT64 FROM_BASE32
        FROM_BASE64 FROM_HEX INT64 LAX_BOOL LAX_FLOAT64 LAX_INT64 LAX_STRING PARSE_BIGNUMERIC
        PARSE_NUMERIC SAFE_CAST SAFE_CONVERT_BYTES_TO_STRING STRING TO_BASE32 TO_BASE64
        TO_CODE_POINTS TO_HEX""",
    "date": """CURRENT_DATE DATE DATE_ADD DATE_BUCKET DATE_DIFF DATE_FROM_UNIX_DATE DATE_SUB
        DATE_TRUNC EXTRACT FORMAT_DATE LAST_DAY PARSE_DATE UNIX_DATE""",
    "datetime": """CURRENT_DATETIME DATETIME DATETIME_ADD DATETIME_BUCKET DATETIME_DIFF
        DATETIME_SUB DATETIME_TRUNC FORMAT_DATETIME PARSE_DATETIME""",
    "time": """CURRENT_TIME FORMAT_TIME PARSE_TIME TIME TIME_ADD TIME_DIFF TIME_SUB
        TIME_TRUNC""",
    "timestamp": """CURRENT_TIMESTAMP FORMAT_TIMESTAMP PARSE_TIMESTAMP TIMESTAMP TIMESTAMP_ADD
        TIMESTAMP_BUCKET TIMESTAMP_DIFF TIMESTAMP_MICROS TIMESTAMP_MILLIS TIMESTAMP_SECONDS
        TIMESTAMP_SUB TIMESTAMP_TRUNC UNIX_MICROS UNIX_MILLIS UNIX_SECONDS""",
    "interval": "JUSTIFY_DAYS JUSTIFY_HOURS JUSTIFY_INTERVAL MAKE_INTERVAL",
    "range": """RANGE RANGE_CONTAINS RANGE_END RANGE_INTERSECT RANGE_OVERLAPS RANGE_START""",
    "debugging": "ERROR",
    "DLP encryption": "DLP_DETERMINISTIC_ENCRYPT DLP_DETERMINISTIC_DECRYPT DLP_KEY_CHAIN",
    "AEAD encryption": """AEAD.DECRYPT_BYTES AEAD.DECRYPT_STRING AEAD.ENCRYPT
        DETERMINISTIC_DECRYPT_BYTES DETERMINISTIC_DECRYPT_STRING DETERMINISTIC_ENCRYPT
        KEYS.ADD_KEY_FROM_RAW_BYTES KEYS.KEYSET_CHAIN KEYS.KEYSET_FROM_JSON KEYS.KEYSET_LENGTH
        KEYS.KEYSET_TO_JSON KEYS.NEW_KEYSET KEYS.NEW_WRAPPED_KEYSET KEYS.REWRAP_KEYSET
        KEYS.ROTATE_KEYSET KEYS.ROTATE_WRAPPED_KEYSET""",
    "federated query": "EXTERNAL_QUERY",
    "geography": """S2_CELLIDFROMPOINT S2_COVERINGCELLIDS ST_ANGLE ST_AREA ST_ASBINARY
        ST_ASGEOJSON ST_ASTEXT ST_AZIMUTH ST_BOUNDARY ST_BOUNDINGBOX ST_BUFFER
        ST_BUFFERWITHTOLERANCE ST_CENTROID ST_CENTROID_AGG ST_CLOSESTPOINT ST_CLUSTERDBSCAN
        ST_CONTAINS ST_CONVEXHULL ST_COVEREDBY ST_COVERS ST_DIFFERENCE ST_DIMENSION ST_DISJOINT
        ST_DISTANCE ST_DUMP ST_DWITHIN ST_ENDPOINT ST_EQUALS ST_EXTENT ST_EXTERIORRING
        ST_GEOGFROM ST_GEOGFROMGEOJSON ST_GEOGFROMTEXT ST_GEOGFROMWKB ST_GEOGPOINT
        ST_GEOGPOINTFROMGEOHASH ST_GEOHASH ST_GEOMETRYTYPE ST_HAUSDORFFDISTANCE
        ST_HAUSDORFFDWITHIN ST_INTERIORRINGS ST_INTERSECTION ST_INTERSECTS ST_INTERSECTSBOX
        ST_ISCLOSED ST_ISCOLLECTION ST_ISEMPTY ST_ISRING ST_LENGTH ST_LINEINTERPOLATEPOINT
        ST_LINELOCATEPOINT ST_LINESUBSTRING ST_MAKELINE ST_MAKEPOLYGON ST_MAKEPOLYGONORIENTED
        ST_MAXDISTANCE ST_NPOINTS ST_NUMGEOMETRIES ST_NUMPOINTS ST_PERIMETER ST_POINTN
        ST_REGIONSTATS ST_SIMPLIFY ST_SNAPTOGRID ST_STARTPOINT ST_TOUCHES ST_UNION ST_UNION_AGG
        ST_WITHIN ST_X ST_Y""",
    "hash": "FARM_FINGERPRINT MD5 SHA1 SHA256 SHA512",
    "JSON": """JSON_ARRAY JSON_ARRAY_APPEND JSON_ARRAY_INSERT JSON_EXTRACT JSON_EXTRACT_ARRAY
        JSON_EXTRACT_SCALAR JSON_EXTRACT_STRING_ARRAY JSON_KEYS JSON_OBJECT JSON_QUERY
        JSON_QUERY_ARRAY JSON_REMOVE JSON_SET JSON_STRIP_NULLS JSON_TYPE JSON_VALUE
        JSON_VALUE_ARRAY PARSE_JSON TO_JSON TO_JSON_STRING""",
    "mathematical": """ABS ACOS ACOSH ASIN ASINH ATAN ATAN2 ATANH CBRT CEIL CEILING COS COSH
        COSINE_DISTANCE COT COTH CSC CSCH DIV EUCLIDEAN_DISTANCE EXP FLOOR GREATEST IEEE_DIVIDE
        IS_INF IS_NAN LEAST LN LOG LOG10 MOD POW POWER RAND RANGE_BUCKET ROUND SAFE_ADD
        SAFE_DIVIDE SAFE_MULTIPLY SAFE_NEGATE SAFE_SUBTRACT SEC SECH SIGN SIN SINH SQRT TAN TANH
        TRUNC""",
    "navigation": """FIRST_VALUE LAG LAST_VALUE LEAD NTH_VALUE PERCENTILE_CONT
        PERCENTILE_DISC""",
    "net": """NET.HOST NET.IP_FROM_STRING NET.IP_NET_MASK NET.IP_TO_STRING NET.IP_TRUNC
        NET.IPV4_FROM_INT64 NET.IPV4_TO_INT64 NET.PUBLIC_SUFFIX NET.REG_DOMAIN
        NET.SAFE_IP_FROM_STRING""",
    "numbering": "CUME_DIST DENSE_RANK NTILE PERCENT_RANK RANK ROW_NUMBER",
    "security": "SESSION_USER",
    "string": """ASCII BYTE_LENGTH CHAR_LENGTH CHARACTER_LENGTH CHR COLLATE CONCAT
        CONTAINS_SUBSTR EDIT_DISTANCE ENDS_WITH FORMAT INITCAP INSTR LEFT LENGTH LOWER LPAD
        LTRIM NORMALIZE NORMALIZE_AND_CASEFOLD OCTET_LENGTH REGEXP_CONTAINS REGEXP_EXTRACT
        REGEXP_EXTRACT_ALL REGEXP_INSTR REGEXP_REPLACE REGEXP_SUBSTR REPEAT REPLACE REVERSE
        RIGHT RPAD RTRIM SOUNDEX SPLIT STARTS_WITH STRPOS SUBSTR SUBSTRING TRANSLATE TRIM
        UNICODE UPPER""",
    "text analysis": "BAG_OF_WORDS TEXT_ANALYZE TF_IDF",
    "search": "SEARCH VECTOR_SEARCH",
    "utility": "GENERATE_UUID",
    "conditional expressions": "COALESCE IF IFNULL NULLIF NULLIFZERO ZEROIFNULL",
    # Syntax that reads like a call: STRUCT(...), UNNEST(...), arr[OFFSET(i)], CASE ...
    "syntax": "CASE INTERVAL OFFSET ORDINAL SAFE_OFFSET SAFE_ORDINAL STRUCT UNNEST VALUES WEEK",
}

BIGQUERY_FUNCTIONS: frozenset[str] = frozenset(
    name for names in _REFERENCE.values() for name in names.split()
)

# Table-valued functions BigQuery has (all served by services this emulator has not).
BIGQUERY_TABLE_FUNCTIONS = frozenset(
    """APPENDS CHANGES EXTERNAL_QUERY GAP_FILL RANGE_SESSIONIZE VECTOR_SEARCH""".split()
)

# Nodes sqlglot builds from syntax of other dialects that its BigQuery reader also accepts
# (``j->'a'``, ``CURRENT_USER``, ``CONNECT_BY_ROOT x``): no BigQuery query has them.
_ARROWS = {"JSONExtract": "->", "JSONBExtract": "->", "JSONExtractScalar": "->>",
           "JSONBExtractScalar": "->>"}  # fmt: skip
_ENGINE_VALUES = {"CurrentUser": "current_user", "CurrentRole": "current_role",
                  "CurrentSchema": "current_schema", "CurrentCatalog": "current_catalog"}  # fmt: skip
_FOREIGN = {"ConnectByRoot": "CONNECT_BY_ROOT", "Columns": "COLUMNS"}


def _foreign_syntax(node: exp.Expr) -> str | None:
    """BigQuery's refusal of syntax only other dialects have, or None."""
    kind = type(node).__name__
    if kind in _ARROWS:
        return f'Syntax error: Unexpected "{_ARROWS[kind]}"'
    if kind in _ENGINE_VALUES:
        return f"Unrecognized name: {_ENGINE_VALUES[kind]}"
    if kind in _FOREIGN:
        return f"Syntax error: Unexpected identifier {_FOREIGN[kind]}"
    return None


def check_names(tree: exp.Expr, sql: str) -> None:
    """Refuse any function or table-valued function BigQuery does not have, and pin bare
    columns named like DuckDB's built-in values (one walk over the tree for both)."""
    engine_names = []
    for node in tree.walk():
        if isinstance(node, exp.Func):
            _check_call(node, sql)
        elif isinstance(node, exp.Lambda):
            raise SqlError('Syntax error: Unexpected "->"', _location(node, sql))
        elif isinstance(node, exp.Table) and not isinstance(node.this, exp.Identifier):
            if node.this is not None:
                _refuse_table_function(node.this, sql)
        elif isinstance(node, exp.Column) and not node.table:
            if node.name.lower() in _ENGINE_VALUE_NAMES:
                engine_names.append(node)
    for column in engine_names:
        _pin_engine_value_name(column, sql)


def _check_call(node: exp.Func, sql: str) -> None:
    name = _written_name(node)
    if name is None:
        refusal = _foreign_syntax(node)
        if refusal:
            raise SqlError(refusal, _location(node, sql))
        return
    if isinstance(node.parent, exp.Table) and node.arg_key == "this":
        return  # a table-valued function: checked with its table
    if name.upper() not in BIGQUERY_FUNCTIONS:
        raise SqlError(f"Function not found: {name}", _location(node, sql))


def _refuse_table_function(function: exp.Expr, sql: str) -> None:
    name = _written_name(function) or function.sql("bigquery").split("(")[0]
    if name.upper() in BIGQUERY_TABLE_FUNCTIONS:
        raise unsupported(f"table-valued function {name.upper()}")
    raise SqlError(f"Table-valued function not found: {name}", _location(function, sql))


def _written_name(node: exp.Expr) -> str | None:
    """The function name as the query wrote it (``NET.HOST``, ``KEYS.NEW_KEYSET``), or None
    for nodes sqlglot made from syntax (CAST, CASE, ARRAY[...], ``SAFE.`` and ``NET.``
    wrappers)."""
    if isinstance(node, exp.Anonymous):
        parent = node.parent
        if isinstance(parent, exp.NetFunc):
            return f"NET.{node.name}"
        if isinstance(parent, exp.Dot) and parent.expression is node:
            prefix = parent.this
            if all(isinstance(part, (exp.Identifier, exp.Column, exp.Dot)) for part in
                   prefix.walk()):
                return f"{prefix.sql('bigquery').replace('`', '')}.{node.name}"
        return node.name
    if isinstance(node, (exp.NetFunc, exp.SafeFunc)):
        return None
    name = node.meta.get(_NAME_KEY)
    if not isinstance(name, str):
        return None
    return f"NET.{name}" if isinstance(node.parent, exp.NetFunc) else name


def _location(node: exp.Expr, sql: str) -> tuple[int, int] | None:
    start = node.meta.get("start")
    if not isinstance(start, int) or start < 0 or start > len(sql):
        return None
    before = sql[:start]
    line = before.count("\n") + 1
    return line, start - (before.rfind("\n") + 1) + 1


# Names DuckDB answers itself when no column of that name is in scope ('duckdb', 'main', the
# database name), where BigQuery says "Unrecognized name".
_ENGINE_VALUE_NAMES = frozenset(
    "user current_user session_user current_role current_schema current_catalog".split()
)


def _pin_engine_value_name(column: exp.Column, sql: str) -> None:
    """A bare column named like one of DuckDB's built-in values (``user``, ``current_catalog``)
    must read the column or fail, never the engine's value: qualify it with the one FROM item
    of its query, or refuse it where no FROM item could hold it."""
    select = column.find_ancestor(exp.Select)
    if select is None or _is_select_alias(select, column.name):
        return
    scopes = [select, *_enclosing_selects(select)]
    items = next((found for found in map(_from_items, scopes) if found), [])
    if not items:
        raise SqlError(f"Unrecognized name: {column.name}", _location(column.this, sql))
    if len(items) == 1 and isinstance(items[0], (exp.Table, exp.Subquery)):
        if items[0].alias_or_name:
            column.set("table", exp.to_identifier(items[0].alias_or_name, quoted=True))


def _from_items(select: exp.Select) -> list[exp.Expr]:
    items = [select.args["from_"].this] if select.args.get("from_") else []
    return items + [join.this for join in select.args.get("joins") or []]


def _enclosing_selects(select: exp.Select) -> list[exp.Select]:
    found = []
    node = select.parent
    while node is not None:
        if isinstance(node, exp.Select):
            found.append(node)
        node = node.parent
    return found


def _is_select_alias(select: exp.Select, name: str) -> bool:
    return any(
        isinstance(e, exp.Alias) and e.alias.lower() == name.lower() for e in select.expressions
    )
