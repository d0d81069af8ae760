/*-------------------------------------------------------------------------
 *
 * overflow.c
 *	  Counter values that would not fit their column: the conditions
 *	  denorm's statements use to find them, and the error that names the
 *	  counter, the parent row and the fix.
 *
 * Left to itself, a relative UPDATE whose result does not fit the column
 * fails in PostgreSQL's own cast ("smallint out of range"), which names
 * neither the counter nor the row, and a statement that updates many rows
 * or columns at once cannot say which one it was.  So every statement that
 * writes a counter column carries a condition (DenormFitsSql) that leaves
 * out the rows whose new value would not fit; the statement (or a
 * follow-up read of the rows it left out) then tells which row and column
 * that was, and DenormOverflowError reports it.  Nothing is written first:
 * the error aborts the statement as the cast's error did.
 *
 *-------------------------------------------------------------------------
 */
#include "denorm.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/syscache.h"

/*
 * DenormColumnType gives the base type and typmod of a column (a domain's
 * own CHECK is the domain's to report), or InvalidOid when there is no
 * such column.
 */
void
DenormColumnType(Oid relid, const char *column, Oid *typid, int32 *typmod)
{
	DenormAttributeType(relid, get_attnum(relid, column), typid, typmod);
}

/* The same by attribute number */
void
DenormAttributeType(Oid relid, AttrNumber attnum, Oid *typid, int32 *typmod)
{
	Oid			collation;

	*typid = InvalidOid;
	*typmod = -1;
	if (attnum == InvalidAttrNumber ||
		!SearchSysCacheExists2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(attnum)))
		return;
	get_atttypetypmodcoll(relid, attnum, typid, typmod, &collation);
	*typid = getBaseTypeAndTypmod(*typid, typmod);
}

/* Precision and scale of a numeric typmod (scales may be negative) */
static void
NumericTypmod(int32 typmod, int *precision, int *scale)
{
	int32		tm = typmod - VARHDRSZ;

	*precision = (tm >> 16) & 0xffff;
	*scale = ((tm & 0x7ff) ^ 1024) - 1024;
}

/* The range of an integer type, as SQL literals */
static bool
IntegerRange(Oid typid, const char **lo, const char **hi)
{
	switch (typid)
	{
		case INT2OID:
			*lo = "-32768";
			*hi = "32767";
			return true;
		case INT4OID:
			*lo = "-2147483648";
			*hi = "2147483647";
			return true;
		case INT8OID:
			*lo = "-9223372036854775808";
			*hi = "9223372036854775807";
			return true;
		default:
			return false;
	}
}

/*
 * DenormFitsSql builds a boolean SQL condition that is true when the value
 * a counter column would take fits its type (coltype, coltypmod, from
 * DenormColumnType): COALESCE(col, 0) + delta, or delta alone when col is
 * NULL (an absolute value).  delta is an expression of type bigint, or
 * numeric when delta_numeric.  The condition itself never raises an error:
 * with bigint deltas on integer columns it is worked out in bigint without
 * forming the sum, otherwise in numeric.  NULL in means 0, as the UPDATEs
 * treat it.
 *   integer column:      lo - COALESCE(col, 0) <= delta <= hi - COALESCE(col, 0)
 *   numeric(p, s):       v = 'NaN' OR abs(round(v, s)) < 1e(p - s)
 *   numeric, no typmod:  true
 */
char *
DenormFitsSql(const char *col, const char *delta, bool delta_numeric,
			  Oid coltype, int32 coltypmod)
{
	const char *lo;
	const char *hi;
	char	   *value;

	if (!delta_numeric && col != NULL && IntegerRange(coltype, &lo, &hi))
	{
		/* bigint column: lo - col (or hi - col) cannot overflow on its side */
		if (coltype == INT8OID)
			return psprintf("(CASE WHEN COALESCE(%1$s, 0) OPERATOR(pg_catalog.>=) 0"
							" THEN %2$s OPERATOR(pg_catalog.<=) ('%4$s'::pg_catalog.int8 OPERATOR(pg_catalog.-) COALESCE(%1$s, 0))"
							" ELSE %2$s OPERATOR(pg_catalog.>=) ('%3$s'::pg_catalog.int8 OPERATOR(pg_catalog.-) COALESCE(%1$s, 0)) END)",
							col, delta, lo, hi);
		return psprintf("(%2$s OPERATOR(pg_catalog.>=) ('%3$s'::pg_catalog.int8 OPERATOR(pg_catalog.-) COALESCE(%1$s, 0))"
						" AND %2$s OPERATOR(pg_catalog.<=) ('%4$s'::pg_catalog.int8 OPERATOR(pg_catalog.-) COALESCE(%1$s, 0)))",
						col, delta, lo, hi);
	}

	value = col != NULL ?
		psprintf("(COALESCE(%s, 0)::pg_catalog.numeric OPERATOR(pg_catalog.+) %s::pg_catalog.numeric)",
				 col, delta) :
		psprintf("%s::pg_catalog.numeric", delta);
	if (IntegerRange(coltype, &lo, &hi))
		return psprintf("(pg_catalog.round(%1$s) OPERATOR(pg_catalog.>=) '%2$s'::pg_catalog.numeric"
						" AND pg_catalog.round(%1$s) OPERATOR(pg_catalog.<=) '%3$s'::pg_catalog.numeric)",
						value, lo, hi);
	if (coltype == NUMERICOID && coltypmod >= (int32) VARHDRSZ)
	{
		int			precision;
		int			scale;

		NumericTypmod(coltypmod, &precision, &scale);
		return psprintf("(%1$s OPERATOR(pg_catalog.=) 'NaN'::pg_catalog.numeric"
						" OR pg_catalog.abs(pg_catalog.round(%1$s, %2$d)) OPERATOR(pg_catalog.<) '1e%3$d'::pg_catalog.numeric)",
						value, scale, precision - scale);
	}
	return "true";
}

/*
 * DenormNewValueSql: the value COALESCE(col, 0) + delta (delta alone when
 * col is NULL) as text, computed in numeric so that it can be shown
 */
char *
DenormNewValueSql(const char *col, const char *delta)
{
	if (col == NULL)
		return psprintf("(%s)::pg_catalog.numeric::pg_catalog.text", delta);
	return psprintf("(COALESCE(%s, 0)::pg_catalog.numeric OPERATOR(pg_catalog.+) %s::pg_catalog.numeric)::pg_catalog.text",
					col, delta);
}

/*
 * DenormNumericFits: whether a numeric value fits a column of the given
 * base type and typmod, by the same rules as DenormFitsSql, without
 * raising an error.
 */
bool
DenormNumericFits(Datum value, Oid coltype, int32 coltypmod)
{
	Numeric		num = DatumGetNumeric(value);
	const char *lo;
	const char *hi;

	if (IntegerRange(coltype, &lo, &hi))
	{
		Datum		rounded;

		if (numeric_is_nan(num) || numeric_is_inf(num))
			return false;
		rounded = DirectFunctionCall2(numeric_round, value, Int32GetDatum(0));
		return DatumGetInt32(DirectFunctionCall2(numeric_cmp, rounded,
												 DirectFunctionCall3(numeric_in, CStringGetDatum(lo),
																	 ObjectIdGetDatum(InvalidOid),
																	 Int32GetDatum(-1)))) >= 0 &&
			DatumGetInt32(DirectFunctionCall2(numeric_cmp, rounded,
											  DirectFunctionCall3(numeric_in, CStringGetDatum(hi),
																  ObjectIdGetDatum(InvalidOid),
																  Int32GetDatum(-1)))) <= 0;
	}
	if (coltype == NUMERICOID && coltypmod >= (int32) VARHDRSZ)
	{
		int			precision;
		int			scale;
		Datum		bound;
		Datum		magnitude;

		if (numeric_is_nan(num))
			return true;
		if (numeric_is_inf(num))
			return false;
		NumericTypmod(coltypmod, &precision, &scale);
		bound = DirectFunctionCall3(numeric_in, CStringGetDatum(psprintf("1e%d", precision - scale)),
									ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
		magnitude = DirectFunctionCall1(numeric_abs,
										DirectFunctionCall2(numeric_round, value, Int32GetDatum(scale)));
		return DatumGetInt32(DirectFunctionCall2(numeric_cmp, magnitude, bound)) < 0;
	}
	return true;
}

/*
 * DenormOverflowError reports that counter_id would take a value its
 * column cannot hold at the parent row whose key column keycol holds
 * keytext: SQLSTATE 22003, as the cast's own error, naming the counter,
 * the column, the table and the row, with the ALTER TABLE that widens the
 * column.  The key is the writer's own foreign key value (or, for
 * maintenance, a row its caller may read); the value is shown only to a
 * role that may read the parent, as other errors' row values are
 * (owner.c).  Called with the caller's own user id in force.  With quiet,
 * the context lines of the PL/pgSQL functions that called denorm's
 * maintenance steps are left out, as denorm_error does.
 */
void
DenormOverflowError(int32 counter_id, Oid parentrel, const char *column,
					const char *keycol, const char *keytext, const char *value,
					bool quiet)
{
	Oid			viewer = GetUserId();
	Oid			typid;
	int32		typmod;
	char	   *relname = get_rel_name(parentrel);
	char	   *qualified;
	char	   *typname;

	DenormColumnType(parentrel, column, &typid, &typmod);
	typname = OidIsValid(typid) ? format_type_with_typemod(typid, typmod) : "?";
	qualified = quote_qualified_identifier(get_namespace_name(get_rel_namespace(parentrel)),
										   relname);
	if (quiet)
		error_context_stack = NULL;
	if (value != NULL && DenormMayAccess(viewer, parentrel, ACL_SELECT))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("denorm counter %d is out of range for column \"%s\" of table \"%s\" at key (%s)=(%s)",
						counter_id, column, relname, keycol, keytext),
				 errdetail("The column would hold %s, which type %s cannot hold.",
						   value, typname),
				 errhint("Widen the column, for example: ALTER TABLE %s ALTER COLUMN %s TYPE %s;",
						 qualified, quote_identifier(column),
						 typid == INT2OID || typid == INT4OID ? "bigint" : "numeric")));
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("denorm counter %d is out of range for column \"%s\" of table \"%s\" at key (%s)=(%s)",
					counter_id, column, relname, keycol, keytext),
			 errdetail("The value it would take is out of range for type %s; it is not shown to role \"%s\", which may not read table \"%s\".",
					   typname, GetUserNameFromId(viewer, false), relname),
			 errhint("Widen the column, for example: ALTER TABLE %s ALTER COLUMN %s TYPE %s;",
					 qualified, quote_identifier(column),
					 typid == INT2OID || typid == INT4OID ? "bigint" : "numeric")));
	pg_unreachable();
}
