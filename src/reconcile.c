/*-------------------------------------------------------------------------
 *
 * reconcile.c
 *	  The statements maintenance runs against a counter's tables, and the
 *	  SQL-callable steps reconcile and flush are built from.
 *
 * Maintenance (reconcile, flush, backfill, recompute) is often run by a
 * superuser or an administrator who owns neither table.  So no statement
 * here reads or writes a user table with the caller's rights: each one is
 * one of a few fixed kinds, built in one place below with the SQL it
 * builds in its comment, and run as the owner of the one table it touches
 * (owner.c).  Where a step needs both tables, each is read by its own
 * statement, all in one snapshot, and the results are joined as plain
 * arrays.  The caller still needs the rights the step used to need (SELECT
 * to read, UPDATE to lock, the parent owner's rights to write): denorm
 * gives no rights of its own.
 *
 *-------------------------------------------------------------------------
 */
#include "denorm.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

/*
 * DenormResolveNames fills in the quoted names and types the statements of
 * a counter use, after checking that both its tables are still tables.
 */
void
DenormResolveNames(Oid nsp, DenormRegistry *r, DenormNames *n)
{
	HeapTuple	tup;
	Form_pg_attribute att;

	DenormCheckTable(r->parent, r->id, "parent");
	DenormCheckTable(r->child, r->id, "child");
	DenormCheckAuthority(r, r->id);

	n->parent = quote_qualified_identifier(get_namespace_name(get_rel_namespace(r->parent)),
										   get_rel_name(r->parent));
	n->child = quote_qualified_identifier(get_namespace_name(get_rel_namespace(r->child)),
										  get_rel_name(r->child));
	n->pending = psprintf("%s.denorm_pending", quote_identifier(get_namespace_name(nsp)));
	n->pending_owner = DenormRelationOwner(get_relname_relid("denorm_pending", nsp));
	n->key = quote_identifier(r->parent_key);
	n->col = quote_identifier(r->counter_column);
	n->fk = quote_identifier(r->foreign_key);
	n->extreme = 0;
	n->valtypid = InvalidOid;
	n->valtype = NULL;
	if (strcmp(r->aggregate, "sum") == 0)
		n->agg = psprintf("pg_catalog.sum(x.%s)", quote_identifier(r->value_column));
	else if (strcmp(r->aggregate, "min") == 0 || strcmp(r->aggregate, "max") == 0)
	{
		Oid			valtype;
		int32		valtypmod;

		/* the extreme in the counter column's own type (the value's) */
		n->extreme = r->aggregate[1] == 'i' ? 'n' : 'x';
		n->agg = psprintf("pg_catalog.%s(x.%s)", r->aggregate, quote_identifier(r->value_column));
		DenormColumnType(r->parent, r->counter_column, &valtype, &valtypmod);
		n->valtypid = valtype;
		n->valtype = format_type_extended(valtype, valtypmod,
										  FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY);
	}
	else
		n->agg = "pg_catalog.count(*)";
	n->filter = DenormSafeFilter(r->child, r->filter);

	tup = SearchSysCacheAttName(r->parent, r->parent_key);
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("parent key column \"%s\" of denorm counter %d does not exist",
						r->parent_key, r->id)));
	att = (Form_pg_attribute) GETSTRUCT(tup);
	n->keytypid = att->atttypid;
	n->keytype = format_type_extended(att->atttypid, att->atttypmod,
									  FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY);
	ReleaseSysCache(tup);

	tup = SearchSysCacheAttName(r->child, r->foreign_key);
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("foreign key column \"%s\" of denorm counter %d does not exist",
						r->foreign_key, r->id)));
	att = (Form_pg_attribute) GETSTRUCT(tup);
	n->fktypid = att->atttypid;
	n->fktype = format_type_be_qualified(att->atttypid);
	ReleaseSysCache(tup);

	/* keys are cast and compared below with other roles' rights */
	if (!DenormBuiltinType(n->keytypid) || !DenormBuiltinType(n->fktypid))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("parent key and foreign key of denorm counter %d must be of built-in types",
						r->id),
				 errdetail("Parent key \"%s\" is of type %s and foreign key \"%s\" of type %s.",
						   r->parent_key, format_type_be(n->keytypid),
						   r->foreign_key, format_type_be(n->fktypid)),
				 errhint("Drop the counter with denorm_drop_counter(%d).", r->id)));
}

/*
 * The key range conditions shared by the reads below: $1 lower bound
 * (inclusive), $2 upper bound (exclusive), $3 upper bound (inclusive), $4
 * a set of keys; NULL for none.  All given as text in the parent key's
 * type.
 */
static char *
RangeCondition(const char *column, const char *keytype)
{
	return psprintf("($1 IS NULL OR %1$s OPERATOR(pg_catalog.>=) $1::%2$s)"
					" AND ($2 IS NULL OR %1$s OPERATOR(pg_catalog.<) $2::%2$s)"
					" AND ($3 IS NULL OR %1$s OPERATOR(pg_catalog.<=) $3::%2$s)"
					" AND ($4 IS NULL OR %1$s OPERATOR(pg_catalog.=) ANY ($4::%2$s[]))",
					column, keytype);
}

static Oid	RangeTypes[4] = {TEXTOID, TEXTOID, TEXTOID, TEXTARRAYOID};

/*
 * Runs one statement returning at most one row as owner (DenormExecAs) and
 * copies its columns into cxt (NULL where the statement returned no row).
 */
static void
RunAsWith(Oid owner, bool owner_path, Oid relid, const char *sql,
		  int nargs, Oid *argtypes, Datum *values, const char *nulls,
		  Snapshot snap, bool read_only, int nout, Datum *out, bool *outnull,
		  MemoryContext cxt, int options)
{
	int			i;

	(void) DenormExecAsChecked(owner, owner_path ? DENORM_PATH_OWNER : DENORM_PATH_SAFE, relid, sql,
							   nargs, argtypes, values, nulls, snap, InvalidSnapshot, read_only,
							   options);

	for (i = 0; i < nout; i++)
	{
		out[i] = (Datum) 0;
		outnull[i] = true;
		if (SPI_processed >= 1 && SPI_tuptable != NULL)
		{
			Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										  i + 1, &outnull[i]);
			Form_pg_attribute att = TupleDescAttr(SPI_tuptable->tupdesc, i);

			if (!outnull[i])
			{
				MemoryContext old = MemoryContextSwitchTo(cxt);

				out[i] = datumCopy(d, att->attbyval, att->attlen);
				MemoryContextSwitchTo(old);
			}
		}
	}
}

static void
RunAs(Oid owner, bool owner_path, Oid relid, const char *sql,
	  int nargs, Oid *argtypes, Datum *values, const char *nulls,
	  Snapshot snap, bool read_only, int nout, Datum *out, bool *outnull,
	  MemoryContext cxt)
{
	RunAsWith(owner, owner_path, relid, sql, nargs, argtypes, values, nulls, snap, read_only,
			  nout, out, outnull, cxt, 0);
}

/*
 * DenormChildSums: what the children in a key range add up to, per
 * foreign key value, read as the child's owner:
 *   SELECT array_agg(a.k ORDER BY a.k), array_agg(a.v ORDER BY a.k)
 *     FROM (SELECT x.fk AS k, count(*) | sum(x.value) AS v FROM child x
 *            WHERE x.fk IS NOT NULL AND (filter) AND <range on x.fk>
 *            GROUP BY 1) a
 * out[0] is an array of the foreign key's type, out[1] a numeric[] (for a
 * min or max, an array of the value type, its elements NULL where no value
 * counts).
 */
void
DenormChildSums(DenormRegistry *r, DenormNames *n, Datum *range, const char *rangenulls,
				Snapshot snap, Datum *out, bool *outnull, MemoryContext cxt)
{
	char	   *sql;

	sql = psprintf("SELECT pg_catalog.array_agg(a.k ORDER BY a.k), pg_catalog.array_agg(a.v ORDER BY a.k)"
				   " FROM (SELECT x.%s AS k, (%s)%s AS v FROM %s x"
				   " WHERE x.%s IS NOT NULL AND (%s) AND %s GROUP BY 1) a",
				   n->fk, n->agg, n->extreme ? "" : "::pg_catalog.numeric", n->child, n->fk, n->filter,
				   RangeCondition(psprintf("x.%s", n->fk), n->keytype));
	RunAs(DenormRelationOwner(r->child), false, r->child, sql, 4, RangeTypes,
		  range, rangenulls, snap, true, 2, out, outnull, cxt);
}

/*
 * The parent rows in a key range with their counter column, read as the
 * parent's owner:
 *   SELECT array_agg(p.key ORDER BY p.key), array_agg(p.col::numeric ORDER BY p.key)
 *     FROM parent p WHERE <range on p.key>
 */
static void
ParentValues(DenormRegistry *r, DenormNames *n, Datum *range, const char *rangenulls,
			 Snapshot snap, Datum *out, bool *outnull, MemoryContext cxt)
{
	char	   *sql;

	sql = psprintf("SELECT pg_catalog.array_agg(p.%1$s ORDER BY p.%1$s),"
				   " pg_catalog.array_agg(p.%2$s::pg_catalog.numeric ORDER BY p.%1$s)"
				   " FROM %3$s p WHERE %4$s",
				   n->key, n->col, n->parent,
				   RangeCondition(psprintf("p.%s", n->key), n->keytype));
	RunAs(DenormRelationOwner(r->parent), false, r->parent, sql, 4, RangeTypes,
		  range, rangenulls, snap, true, 2, out, outnull, cxt);
}

/*
 * The pending deltas of a counter per key, read as the owner of
 * denorm_pending:
 *   SELECT array_agg(s.k), array_agg(s.d) FROM
 *     (SELECT q.parent_key::keytype AS k, sum(q.delta) AS d
 *        FROM denorm_pending q WHERE q.counter_id = $1 GROUP BY 1) s
 */
static void
PendingSums(DenormRegistry *r, DenormNames *n, Snapshot snap, Datum *out, bool *outnull,
			MemoryContext cxt)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(r->id)};
	char	   *sql;

	sql = psprintf("SELECT pg_catalog.array_agg(s.k), pg_catalog.array_agg(s.d)"
				   " FROM (SELECT q.parent_key::%s AS k, pg_catalog.sum(q.delta) AS d"
				   " FROM %s q WHERE q.counter_id OPERATOR(pg_catalog.=) $1 GROUP BY 1) s",
				   n->keytype, n->pending);
	RunAs(n->pending_owner, false, InvalidOid, sql, 1, argtypes, values, NULL,
		  snap, true, 2, out, outnull, cxt);
}

/* Refuses a caller without mode on relid (nor its owner's rights) */
static void
RequireAccess(Oid relid, AclMode mode, int32 id)
{
	if (!DenormMayAccess(GetUserId(), relid, mode))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for table %s", get_rel_name(relid)),
				 errdetail("Maintaining denorm counter %d needs %s on it, with no row security policy hiding rows.",
						   id, mode == ACL_SELECT ? "SELECT" : "UPDATE")));
}

/* Reads counter id's registry row, or reports that there is none */
static void
ReadCounter(Oid nsp, int32 id, DenormRegistry *r)
{
	if (!DenormReadRegistry(nsp, id, r))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("denorm counter %d does not exist", id)));
}

/* The four range arguments of a SQL-callable step, from argument first */
static void
RangeArgs(FunctionCallInfo fcinfo, int first, Datum *range, char *rangenulls)
{
	int			i;

	for (i = 0; i < 4; i++)
	{
		rangenulls[i] = PG_ARGISNULL(first + i) ? 'n' : ' ';
		range[i] = PG_ARGISNULL(first + i) ? (Datum) 0 : PG_GETARG_DATUM(first + i);
	}
}

/*
 * The row a drift finder returns: (rows read, then the arrays it built),
 * rows read 0 where the batch held no row.
 */
static Datum
DriftResult(FunctionCallInfo fcinfo, Datum *result, bool *resultnulls)
{
	TupleDesc	tupdesc;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	if (resultnulls[0])
	{
		result[0] = Int64GetDatum(0);
		resultnulls[0] = false;
	}
	return HeapTupleGetDatum(heap_form_tuple(tupdesc, result, resultnulls));
}

PG_FUNCTION_INFO_V1(denorm_read_batch);

/*
 * denorm_find_drift(counter_id integer, lo text, hi text, upto text,
 *                   keys text[], OUT rows_checked bigint, OUT keys text[],
 *                   OUT stored numeric[], OUT stored_col numeric[],
 *                   OUT pending numeric[], OUT actual numeric[])
 *
 * (The C symbol keeps the SQL name of 1.2, denorm_read_batch, which the
 * frozen 1.1--1.2 script points at.)  Takes no lock beyond reading.
 * Compares one key range of a counter: how many parent rows it has, and
 * for each drifted one (sorted by key) the stored value (column plus
 * pending deltas), the column, the pending deltas and what its children
 * add up to.  Parent, pending deltas and children are each read by their
 * own statement as their owner, all in one snapshot, so in-flight writers
 * cannot cause false drift; the comparison itself runs on the arrays they
 * return:
 *   WITH a AS (SELECT * FROM unnest($1::fktype[], $2::numeric[]) a(k, v)),
 *        q AS (SELECT * FROM unnest($5::keytype[], $6::numeric[]) q(k, d)),
 *        b AS (SELECT p.k, p.c, coalesce(q.d, 0), p.c + coalesce(q.d, 0)
 *                FROM unnest($3::keytype[], $4::numeric[]) p(k, c) LEFT JOIN q ...),
 *        d AS (... b LEFT JOIN a ... WHERE stored IS DISTINCT FROM actual)
 *   SELECT (SELECT count(*) FROM b), array_agg(...) FROM d
 */
Datum
denorm_read_batch(PG_FUNCTION_ARGS)
{
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	MemoryContext cxt = CurrentMemoryContext;
	DenormRegistry r;
	DenormNames n;
	Datum		range[4];
	char		rangenulls[4];
	Datum		arrays[6];
	bool		arraynulls[6];
	Oid			argtypes[6];
	char		nulls[6];
	Datum		result[6];
	bool		resultnulls[6];
	Snapshot	snap;
	char	   *sql;
	int			i;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"counter_id\" must not be null")));
	ReadCounter(nsp, PG_GETARG_INT32(0), &r);
	RequireAccess(r.parent, ACL_SELECT, r.id);
	RequireAccess(r.child, ACL_SELECT, r.id);
	DenormResolveNames(nsp, &r, &n);
	RangeArgs(fcinfo, 1, range, rangenulls);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	snap = RegisterSnapshot(GetTransactionSnapshot());
	DenormChildSums(&r, &n, range, rangenulls, snap, &arrays[0], &arraynulls[0], cxt);
	ParentValues(&r, &n, range, rangenulls, snap, &arrays[2], &arraynulls[2], cxt);
	PendingSums(&r, &n, snap, &arrays[4], &arraynulls[4], cxt);
	UnregisterSnapshot(snap);

	argtypes[0] = get_array_type(n.fktypid);
	argtypes[1] = NUMERICARRAYOID;
	argtypes[2] = get_array_type(n.keytypid);
	argtypes[3] = NUMERICARRAYOID;
	argtypes[4] = get_array_type(n.keytypid);
	argtypes[5] = NUMERICARRAYOID;
	for (i = 0; i < 6; i++)
		nulls[i] = arraynulls[i] ? 'n' : ' ';

	sql = psprintf("WITH a AS (SELECT * FROM ROWS FROM (pg_catalog.unnest($1::%1$s[]), pg_catalog.unnest($2::pg_catalog.numeric[])) AS a(k, v)),"
				   " q AS (SELECT * FROM ROWS FROM (pg_catalog.unnest($5::%2$s[]), pg_catalog.unnest($6::pg_catalog.numeric[])) AS q(k, d)),"
				   " b AS (SELECT p.k, p.c AS stored_col, COALESCE(q.d, 0) AS pend,"
				   "        p.c OPERATOR(pg_catalog.+) COALESCE(q.d, 0) AS stored"
				   "   FROM ROWS FROM (pg_catalog.unnest($3::%2$s[]), pg_catalog.unnest($4::pg_catalog.numeric[])) AS p(k, c)"
				   "   LEFT JOIN q ON q.k OPERATOR(pg_catalog.=) p.k),"
				   " d AS (SELECT b.k, b.stored, b.stored_col, b.pend, COALESCE(a.v, 0) AS actual"
				   "   FROM b LEFT JOIN a ON a.k OPERATOR(pg_catalog.=) b.k"
				   "  WHERE b.stored IS DISTINCT FROM COALESCE(a.v, 0))"
				   " SELECT (SELECT pg_catalog.count(*) FROM b),"
				   " pg_catalog.array_agg(d.k::pg_catalog.text ORDER BY d.k),"
				   " pg_catalog.array_agg(d.stored ORDER BY d.k),"
				   " pg_catalog.array_agg(d.stored_col ORDER BY d.k),"
				   " pg_catalog.array_agg(d.pend ORDER BY d.k),"
				   " pg_catalog.array_agg(d.actual ORDER BY d.k) FROM d",
				   n.fktype, format_type_be_qualified(n.keytypid));
	/* plain data: run as denorm's own, with nothing of any user's involved */
	RunAs(n.pending_owner, false, InvalidOid, sql, 6, argtypes, arrays, nulls,
		  NULL, true, 6, result, resultnulls, cxt);
	SPI_finish();

	PG_RETURN_DATUM(DriftResult(fcinfo, result, resultnulls));
}

PG_FUNCTION_INFO_V1(denorm_lock_parents);

/*
 * denorm_lock_parents(counter_id integer, keys text[]) returns void
 *
 * Locks a counter's parent rows with the given keys in ascending key order
 * (the order writers take them in), as the parent's owner:
 *   SELECT 1 FROM parent p WHERE p.key = ANY ($4::keytype[])
 *    ORDER BY p.key FOR NO KEY UPDATE OF p
 * The caller needs UPDATE on the parent, as for locking it itself.
 */
Datum
denorm_lock_parents(PG_FUNCTION_ARGS)
{
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	DenormRegistry r;
	DenormNames n;
	Datum		range[4] = {0, 0, 0, 0};
	char		rangenulls[4] = {'n', 'n', 'n', ' '};
	char	   *sql;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_VOID();
	ReadCounter(nsp, PG_GETARG_INT32(0), &r);
	if (!DenormMayAccess(GetUserId(), r.parent, ACL_UPDATE) &&
		pg_attribute_aclcheck(r.parent, get_attnum(r.parent, r.counter_column),
							  GetUserId(), ACL_UPDATE) != ACLCHECK_OK)
		RequireAccess(r.parent, ACL_UPDATE, r.id);
	DenormResolveNames(nsp, &r, &n);
	range[3] = PG_GETARG_DATUM(1);

	sql = psprintf("SELECT 1 FROM %1$s p WHERE %2$s ORDER BY p.%3$s FOR NO KEY UPDATE OF p",
				   n.parent, RangeCondition(psprintf("p.%s", n.key), n.keytype), n.key);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	RunAs(DenormRelationOwner(r.parent), false, r.parent, sql, 4, RangeTypes,
		  range, rangenulls, NULL, false, 0, NULL, NULL, CurrentMemoryContext);
	SPI_finish();
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(denorm_parent_batch_starts);

/*
 * denorm_parent_batch_starts(counter_id integer, batch_size integer, key_from text,
 *                     key_to text) returns text[]
 *
 * Start keys of the key-range batches over a counter's parent table, as
 * text, ascending; batch i covers [starts[i], starts[i+1]) and the first
 * batch is open below.  Read as the parent's owner:
 *   SELECT array_agg(k::text ORDER BY k) FROM
 *     (SELECT p.key AS k, row_number() OVER (ORDER BY p.key) AS rn
 *        FROM parent p WHERE <key_from <= p.key <= key_to>) s
 *    WHERE (rn - 1) % $5 = 0
 */
Datum
denorm_parent_batch_starts(PG_FUNCTION_ARGS)
{
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	MemoryContext cxt = CurrentMemoryContext;
	DenormRegistry r;
	DenormNames n;
	Datum		values[5] = {0, 0, 0, 0, 0};
	char		nulls[5] = {'n', 'n', 'n', 'n', ' '};
	Oid			argtypes[5] = {TEXTOID, TEXTOID, TEXTOID, TEXTARRAYOID, INT4OID};
	Datum		result;
	bool		isnull;
	char	   *sql;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("arguments \"counter_id\" and \"batch_size\" must not be null")));
	ReadCounter(nsp, PG_GETARG_INT32(0), &r);
	RequireAccess(r.parent, ACL_SELECT, r.id);
	DenormResolveNames(nsp, &r, &n);
	values[4] = PG_GETARG_DATUM(1);
	if (!PG_ARGISNULL(2))
	{
		values[0] = PG_GETARG_DATUM(2);
		nulls[0] = ' ';
	}
	if (!PG_ARGISNULL(3))
	{
		values[2] = PG_GETARG_DATUM(3);
		nulls[2] = ' ';
	}

	sql = psprintf("SELECT COALESCE(pg_catalog.array_agg(s.k::pg_catalog.text ORDER BY s.k), '{}')"
				   " FROM (SELECT p.%1$s AS k, pg_catalog.row_number() OVER (ORDER BY p.%1$s) AS rn"
				   " FROM %2$s p WHERE %3$s) s"
				   " WHERE (s.rn OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog.%%) $5 OPERATOR(pg_catalog.=) 0",
				   n.key, n.parent, RangeCondition(psprintf("p.%s", n.key), n.keytype));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	RunAs(DenormRelationOwner(r.parent), false, r.parent, sql, 5, argtypes,
		  values, nulls, NULL, true, 1, &result, &isnull, cxt);
	SPI_finish();
	PG_RETURN_DATUM(result);
}

/*
 * ApplyAmounts changes a counter's column on the parent rows with the
 * given keys, as the parent's owner: adds each amount, or (absolute) sets
 * it.  The rows are locked first, in key order (the callers have locked
 * them already; this makes sure of it):
 *   SELECT 1 FROM parent p WHERE p.key = ANY ($1::keytype[])
 *    ORDER BY p.key FOR NO KEY UPDATE OF p
 * then changed, leaving out any row whose new value would not fit the
 * column, and the first such row, read as it was before the UPDATE (same
 * snapshot, rows locked), reported instead (DenormOverflowError):
 *   WITH u AS (UPDATE parent p SET col = CASE WHEN h.a THEN h.v
 *                                        ELSE COALESCE(p.col, 0) + h.v END
 *                FROM ROWS FROM (unnest($1::keytype[]), unnest($2), unnest($3)) h(k, v, a)
 *               WHERE p.key = h.k AND <the new value fits> RETURNING p.key::text AS k)
 *   SELECT COALESCE(array_agg(u.k), '{}'),
 *          CASE WHEN count(*) < cardinality($1) THEN
 *            (SELECT ARRAY[p.key::text, <new value>] FROM parent p, ROWS FROM (...) h
 *              WHERE p.key = h.k AND NOT <fits> ORDER BY p.key LIMIT 1) END
 *     FROM u
 * Returns the keys (text[]) of the rows changed.  The caller must have the
 * rights of the parent's owner.
 */
static Datum
ApplyAmounts(Oid nsp, DenormRegistry *r, Datum keys, Datum amounts, Datum absolute)
{
	DenormNames n;
	Oid			owner = DenormRelationOwner(r->parent);
	Oid			argtypes[3] = {TEXTARRAYOID, NUMERICARRAYOID, BOOLARRAYOID};
	Datum		values[3];
	Datum		result[2];
	bool		isnull[2];
	MemoryContext cxt = CurrentMemoryContext;
	Oid			coltype;
	int32		coltypmod;
	char	   *col;
	char	   *fits;
	char	   *rows;
	char	   *sql;
	char	   *mark = "";

	if (!has_privs_of_role(GetUserId(), owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must have the rights of the owner of table \"%s\" to change denorm counter %d",
						get_rel_name(r->parent), r->id)));
	DenormResolveNames(nsp, r, &n);
	DenormColumnType(r->parent, r->counter_column, &coltype, &coltypmod);
	col = psprintf("p.%s", n.col);
	fits = psprintf("CASE WHEN h.a THEN %s ELSE %s END",
					DenormFitsSql(NULL, "h.v", true, coltype, coltypmod),
					DenormFitsSql(col, "h.v", true, coltype, coltypmod));
	rows = psprintf("ROWS FROM (pg_catalog.unnest($1::%s[]), pg_catalog.unnest($2), "
					"pg_catalog.unnest($3)) AS h(k, v, a)", n.keytype);
	/* on a distributed parent the row is written on its shard's node */
	if (DenormCitusPresent() && DenormCitusKind(r->parent, NULL) == 'h')
		mark = psprintf("%s.denorm_counter_write", quote_identifier(get_namespace_name(nsp)));
	sql = psprintf("WITH u AS (UPDATE %1$s p SET %2$s = %7$s(CASE WHEN h.a THEN h.v "
				   "ELSE COALESCE(p.%2$s, 0) OPERATOR(pg_catalog.+) h.v END) "
				   "FROM %3$s "
				   "WHERE p.%4$s OPERATOR(pg_catalog.=) h.k AND %5$s "
				   "RETURNING p.%4$s::pg_catalog.text AS k) "
				   "SELECT COALESCE(pg_catalog.array_agg(u.k), '{}'), "
				   "CASE WHEN pg_catalog.count(*) OPERATOR(pg_catalog.<) pg_catalog.cardinality($1) THEN "
				   "(SELECT ARRAY[p.%4$s::pg_catalog.text, CASE WHEN h.a THEN h.v::pg_catalog.text ELSE %6$s END] "
				   "FROM %1$s p, %3$s WHERE p.%4$s OPERATOR(pg_catalog.=) h.k AND NOT (%5$s) "
				   "ORDER BY p.%4$s LIMIT 1) END FROM u",
				   n.parent, n.col, rows, n.key, fits, DenormNewValueSql(col, "h.v"), mark);
	values[0] = keys;
	values[1] = amounts;
	values[2] = absolute;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	(void) DenormExecAs(owner, DENORM_PATH_SAFE, r->parent,
						psprintf("SELECT 1 FROM %1$s p WHERE p.%2$s OPERATOR(pg_catalog.=) ANY ($1::%3$s[]) "
								 "ORDER BY p.%2$s FOR NO KEY UPDATE OF p",
								 n.parent, n.key, n.keytype),
						1, argtypes, values, NULL, NULL, false);
	/* the parent's triggers run: with the owner's own search path */
	RunAsWith(owner, true, r->parent, sql, 3, argtypes, values, NULL, NULL, false,
			  2, result, isnull, cxt, DENORM_COUNTER_WRITE);
	if (!isnull[1])
	{
		Datum	   *fields;
		bool	   *fieldnulls;
		int			nfields;

		deconstruct_array(DatumGetArrayTypeP(result[1]), TEXTOID, -1, false, TYPALIGN_INT,
						  &fields, &fieldnulls, &nfields);
		DenormOverflowError(r->id, r->parent, r->counter_column, r->parent_key,
							TextDatumGetCString(fields[0]), TextDatumGetCString(fields[1]),
							true);
	}
	SPI_finish();
	return result[0];
}

PG_FUNCTION_INFO_V1(denorm_apply_amounts);

/*
 * denorm_apply_amounts(counter_id integer, keys text[], amounts numeric[],
 *                      absolute boolean[]) returns text[]
 *
 * Reconcile heals write parents through this (see ApplyAmounts), so the
 * parent's own triggers and constraints run as the parent's owner, not as
 * whoever runs the job (often a superuser, through pg_cron).  The UPDATE
 * locks the rows; the caller has locked them already, in key order, with
 * denorm_lock_parents.
 */
Datum
denorm_apply_amounts(PG_FUNCTION_ARGS)
{
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	DenormRegistry r;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("arguments of denorm_apply_amounts must not be null")));
	ReadCounter(nsp, PG_GETARG_INT32(0), &r);
	PG_RETURN_DATUM(ApplyAmounts(nsp, &r, PG_GETARG_DATUM(1), PG_GETARG_DATUM(2),
								 PG_GETARG_DATUM(3)));
}

PG_FUNCTION_INFO_V1(denorm_fold_pending);

/*
 * denorm_fold_pending(counter_id integer, keys text[]) returns bigint
 *
 * Folds the pending deltas of a deferred counter for the given keys (whose
 * parent rows the caller has locked) into its column: exactly the pending
 * rows this snapshot sees are deleted, as the owner of denorm_pending,
 *   WITH del AS (DELETE FROM denorm_pending q WHERE q.counter_id = $1
 *                   AND q.parent_key = ANY ($2) RETURNING q.parent_key, q.delta, q.created_at),
 *        agg AS (SELECT del.parent_key::keytype AS k, sum(del.delta) AS d,
 *                       count(*) AS n FROM del GROUP BY 1)
 *   SELECT array_agg(agg.k::text ORDER BY agg.k), array_agg(agg.d ORDER BY agg.k),
 *          array_agg(false), COALESCE(sum(agg.n), 0)::bigint FROM agg
 * and their sums added to the parent rows (ApplyAmounts).  A key without a
 * parent row keeps its sum pending, as one row,
 *   INSERT INTO denorm_pending (counter_id, parent_key, delta, created_at)
 *   SELECT $1, f.k, f.d, f.t FROM ROWS FROM (unnest($2::text[]),
 *          unnest($3::numeric[]), unnest($4::timestamptz[])) f(k, d, t)
 *    WHERE f.d <> 0 AND f.k::keytype <> ALL ($5::keytype[])
 * so that a parent row inserted meanwhile, which starts from its children
 * less what is pending for its key (parent.c), reads the same sum whether
 * it sees this flush or not.  Returns the pending rows folded.
 */
Datum
denorm_fold_pending(PG_FUNCTION_ARGS)
{
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	MemoryContext cxt = CurrentMemoryContext;
	DenormRegistry r;
	DenormNames n;
	Oid			argtypes[2] = {INT4OID, TEXTARRAYOID};
	Datum		values[2];
	Datum		out[5];
	bool		outnull[5];
	char	   *sql;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_INT64(0);
	ReadCounter(nsp, PG_GETARG_INT32(0), &r);
	if (!has_privs_of_role(GetUserId(), DenormRelationOwner(r.parent)))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must have the rights of the owner of table \"%s\" to change denorm counter %d",
						get_rel_name(r.parent), r.id)));
	DenormResolveNames(nsp, &r, &n);
	values[0] = Int32GetDatum(r.id);
	values[1] = PG_GETARG_DATUM(1);
	sql = psprintf("WITH del AS (DELETE FROM %1$s q WHERE q.counter_id OPERATOR(pg_catalog.=) $1"
				   " AND q.parent_key OPERATOR(pg_catalog.=) ANY ($2) RETURNING q.parent_key, q.delta, q.created_at),"
				   " agg AS (SELECT del.parent_key::%2$s AS k, pg_catalog.sum(del.delta) AS d,"
				   " pg_catalog.count(*) AS n, pg_catalog.min(del.created_at) AS t"
				   " FROM del GROUP BY 1)"
				   " SELECT pg_catalog.array_agg(agg.k::pg_catalog.text ORDER BY agg.k),"
				   " pg_catalog.array_agg(agg.d ORDER BY agg.k), pg_catalog.array_agg(false),"
				   " COALESCE(pg_catalog.sum(agg.n), 0)::pg_catalog.int8,"
				   " pg_catalog.array_agg(agg.t ORDER BY agg.k) FROM agg",
				   n.pending, n.keytype);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	RunAs(n.pending_owner, false, InvalidOid, sql, 2, argtypes, values, NULL, NULL,
		  false, 5, out, outnull, cxt);
	SPI_finish();
	if (!outnull[0])
	{
		Datum		applied = ApplyAmounts(nsp, &r, out[0], out[1], out[2]);
		Oid			keptargs[5] = {INT4OID, TEXTARRAYOID, NUMERICARRAYOID,
								   TIMESTAMPTZARRAYOID, TEXTARRAYOID};
		Datum		kept[5] = {Int32GetDatum(r.id), out[0], out[1], out[4], applied};

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		(void) DenormExecAs(n.pending_owner, DENORM_PATH_SAFE, InvalidOid,
							psprintf("INSERT INTO %1$s (counter_id, parent_key, delta, created_at) "
									 "SELECT $1, f.k, f.d, f.t FROM ROWS FROM (pg_catalog.unnest($2), "
									 "pg_catalog.unnest($3), pg_catalog.unnest($4)) AS f(k, d, t) "
									 "WHERE f.d OPERATOR(pg_catalog.<>) 0 "
									 "AND f.k::%2$s OPERATOR(pg_catalog.<>) ALL ($5::%2$s[])",
									 n.pending, n.keytype),
							5, keptargs, kept, NULL, NULL, false);
		SPI_finish();
	}
	PG_RETURN_DATUM(outnull[3] ? Int64GetDatum(0) : out[3]);
}

PG_FUNCTION_INFO_V1(denorm_commit_allowed);

/*
 * denorm_commit_allowed() returns boolean
 *
 * Whether the procedure calling this may COMMIT: true only when it was
 * CALLed outside a transaction block, at top level or from a procedure or
 * DO block that may commit itself (a non-atomic SPI connection), and not
 * inside a block with an exception handler (a subtransaction, where COMMIT
 * is refused too).  PL/pgSQL cannot ask this itself, nor catch the error
 * of a refused COMMIT (catching needs an exception handler, inside which
 * COMMIT is refused anyway), so denorm_reconcile_batched asks first,
 * before it records a run, and refuses with a hint instead of
 * PostgreSQL's bare "invalid transaction termination".  Called from
 * PL/pgSQL, the current SPI connection is the calling procedure's.
 */
Datum
denorm_commit_allowed(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(SPI_inside_nonatomic_context() && !IsSubTransaction());
}

PG_FUNCTION_INFO_V1(denorm_find_extreme_drift);

/*
 * denorm_find_extreme_drift(counter_id integer, lo text, hi text, upto text,
 *                           keys text[], OUT rows_checked bigint, OUT keys text[],
 *                           OUT stored text[], OUT actual text[])
 *
 * denorm_find_drift for a min or max counter, whose values need not be
 * numbers: how many parent rows one key range has, and for each drifted one
 * (sorted by key) the stored and the recomputed extreme as text (NULL for
 * none).  Parent and children are each read by their own statement as
 * their owner, in one snapshot, in the value's own type (DenormChildSums,
 * and
 *   SELECT array_agg(p.key ORDER BY p.key), array_agg(p.col ORDER BY p.key)
 *     FROM parent p WHERE <range on p.key>
 * ) and compared with IS DISTINCT FROM, on the arrays they return:
 *   WITH a AS (SELECT * FROM unnest($1::fktype[], $2::valtype[]) a(k, v)),
 *        b AS (SELECT * FROM unnest($3::keytype[], $4::valtype[]) p(k, c)),
 *        d AS (SELECT b.k, b.c, a.v FROM b LEFT JOIN a ON a.k = b.k
 *               WHERE b.c IS DISTINCT FROM a.v)
 *   SELECT (SELECT count(*) FROM b), array_agg(d.k::text ORDER BY d.k),
 *          array_agg(d.c::text ORDER BY d.k), array_agg(d.v::text ORDER BY d.k) FROM d
 * Takes no lock beyond reading.
 */
Datum
denorm_find_extreme_drift(PG_FUNCTION_ARGS)
{
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	MemoryContext cxt = CurrentMemoryContext;
	DenormRegistry r;
	DenormNames n;
	Datum		range[4];
	char		rangenulls[4];
	Datum		arrays[4];
	bool		arraynulls[4];
	Oid			argtypes[4];
	char		nulls[4];
	Datum		result[4];
	bool		resultnulls[4];
	Snapshot	snap;
	char	   *sql;
	int			i;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"counter_id\" must not be null")));
	ReadCounter(nsp, PG_GETARG_INT32(0), &r);
	RequireAccess(r.parent, ACL_SELECT, r.id);
	RequireAccess(r.child, ACL_SELECT, r.id);
	DenormResolveNames(nsp, &r, &n);
	if (!n.extreme)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("denorm counter %d is not a min or max counter", r.id)));
	RangeArgs(fcinfo, 1, range, rangenulls);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	snap = RegisterSnapshot(GetTransactionSnapshot());
	DenormChildSums(&r, &n, range, rangenulls, snap, &arrays[0], &arraynulls[0], cxt);
	sql = psprintf("SELECT pg_catalog.array_agg(p.%1$s ORDER BY p.%1$s),"
				   " pg_catalog.array_agg(p.%2$s ORDER BY p.%1$s)"
				   " FROM %3$s p WHERE %4$s",
				   n.key, n.col, n.parent,
				   RangeCondition(psprintf("p.%s", n.key), n.keytype));
	RunAs(DenormRelationOwner(r.parent), false, r.parent, sql, 4, RangeTypes,
		  range, rangenulls, snap, true, 2, &arrays[2], &arraynulls[2], cxt);
	UnregisterSnapshot(snap);

	argtypes[0] = get_array_type(n.fktypid);
	argtypes[1] = get_array_type(n.valtypid);
	argtypes[2] = get_array_type(n.keytypid);
	argtypes[3] = get_array_type(n.valtypid);
	for (i = 0; i < 4; i++)
		nulls[i] = arraynulls[i] ? 'n' : ' ';

	sql = psprintf("WITH a AS (SELECT * FROM ROWS FROM (pg_catalog.unnest($1::%1$s[]), pg_catalog.unnest($2::%3$s[])) AS a(k, v)),"
				   " b AS (SELECT * FROM ROWS FROM (pg_catalog.unnest($3::%2$s[]), pg_catalog.unnest($4::%3$s[])) AS p(k, c)),"
				   " d AS (SELECT b.k, b.c, a.v FROM b LEFT JOIN a ON a.k OPERATOR(pg_catalog.=) b.k"
				   "  WHERE b.c IS DISTINCT FROM a.v)"
				   " SELECT (SELECT pg_catalog.count(*) FROM b),"
				   " pg_catalog.array_agg(d.k::pg_catalog.text ORDER BY d.k),"
				   " pg_catalog.array_agg(d.c::pg_catalog.text ORDER BY d.k),"
				   " pg_catalog.array_agg(d.v::pg_catalog.text ORDER BY d.k) FROM d",
				   n.fktype, format_type_be_qualified(n.keytypid), n.valtype);
	/* plain data: run as denorm's own, with nothing of any user's involved */
	RunAs(n.pending_owner, false, InvalidOid, sql, 4, argtypes, arrays, nulls,
		  NULL, true, 4, result, resultnulls, cxt);
	SPI_finish();

	PG_RETURN_DATUM(DriftResult(fcinfo, result, resultnulls));
}

PG_FUNCTION_INFO_V1(denorm_set_extremes);

/*
 * denorm_set_extremes(counter_id integer, keys text[], vals text[]) returns text[]
 *
 * Sets a min or max counter's column on the parent rows with the given keys
 * to the given values (text in the column's type, NULL for none), as the
 * parent's owner, after locking them in key order (the callers have
 * already):
 *   SELECT 1 FROM parent p WHERE p.key = ANY ($1::keytype[])
 *    ORDER BY p.key FOR NO KEY UPDATE OF p
 *   WITH u AS (UPDATE parent p SET col = h.v::valtype
 *                FROM ROWS FROM (unnest($1::text[]), unnest($2::text[])) h(k, v)
 *               WHERE p.key = h.k::keytype RETURNING p.key::text AS k)
 *   SELECT COALESCE(array_agg(u.k), '{}') FROM u
 * Returns the keys of the rows changed.  Reconcile heals min/max counters
 * through this (absolute values: an extreme is no sum of differences).
 */
Datum
denorm_set_extremes(PG_FUNCTION_ARGS)
{
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	MemoryContext cxt = CurrentMemoryContext;
	DenormRegistry r;
	DenormNames n;
	Oid			owner;
	Oid			argtypes[2] = {TEXTARRAYOID, TEXTARRAYOID};
	Datum		values[2];
	Datum		result;
	bool		isnull;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("arguments of denorm_set_extremes must not be null")));
	ReadCounter(nsp, PG_GETARG_INT32(0), &r);
	owner = DenormRelationOwner(r.parent);
	if (!has_privs_of_role(GetUserId(), owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must have the rights of the owner of table \"%s\" to change denorm counter %d",
						get_rel_name(r.parent), r.id)));
	DenormResolveNames(nsp, &r, &n);
	if (!n.extreme)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("denorm counter %d is not a min or max counter", r.id)));
	values[0] = PG_GETARG_DATUM(1);
	values[1] = PG_GETARG_DATUM(2);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	(void) DenormExecAs(owner, DENORM_PATH_SAFE, r.parent,
						psprintf("SELECT 1 FROM %1$s p WHERE p.%2$s OPERATOR(pg_catalog.=) ANY ($1::%3$s[]) "
								 "ORDER BY p.%2$s FOR NO KEY UPDATE OF p",
								 n.parent, n.key, n.keytype),
						1, argtypes, values, NULL, NULL, false);
	/* the parent's triggers run: with the owner's own search path */
	RunAsWith(owner, true, r.parent,
			  psprintf("WITH u AS (UPDATE %1$s p SET %2$s = h.v::%5$s "
					   "FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), "
					   "pg_catalog.unnest($2::pg_catalog.text[])) AS h(k, v) "
					   "WHERE p.%3$s OPERATOR(pg_catalog.=) h.k::%4$s "
					   "RETURNING p.%3$s::pg_catalog.text AS k) "
					   "SELECT COALESCE(pg_catalog.array_agg(u.k), '{}') FROM u",
					   n.parent, n.col, n.key, n.keytype, n.valtype),
			  2, argtypes, values, NULL, NULL, false, 1, &result, &isnull, cxt,
			  DENORM_COUNTER_WRITE);
	SPI_finish();
	PG_RETURN_DATUM(result);
}
