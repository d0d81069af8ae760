/*-------------------------------------------------------------------------
 *
 * reads.c
 *	  Exact counter values, for any role that may read the parent.
 *
 * denorm_value and denorm_values give the exact value of a counter for
 * parent keys: the parent's column, plus the pending deltas of the key for
 * a deferred counter, plus what the calling transaction's own deltas not
 * applied yet (mode 'commit', statements still running) add.  They are
 * meant for application roles, which have no rights on denorm_pending, so
 * they read in two steps:
 *
 *   1. The parent rows are read with the caller's own rights, as a plain
 *      SELECT of the key and the counter column would read them: the
 *      caller's table and column privileges and the table's row security
 *      decide what it sees, and a refusal is the error that SELECT raises.
 *   2. Only for the rows step 1 returned, the pending deltas of that one
 *      counter are summed as the owner of denorm_pending (owner.c).
 *
 * So a caller learns nothing it could not SELECT, except the pending sums
 * of rows it may read, which is the point.  Counter definitions are no
 * secret (every role may read denorm_counters): an unknown counter id is
 * reported as such, and a counter on a table the caller may not read gets
 * the caller's permission error for that table.
 *
 * Both steps run in the calling query's snapshot (read-only SPI uses the
 * active snapshot), so a flush committing meanwhile is seen entirely or
 * not at all, and SELECT p.id, denorm_value(c, p.id) FROM p reads every
 * row in the snapshot of that query.
 *
 *-------------------------------------------------------------------------
 */
#include "denorm.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/plancache.h"
#include "utils/syscache.h"

/*
 * What reading one counter takes, resolved once per call site and kept in
 * fn_extra while the transaction and command stay the same (a plan of
 * PL/pgSQL keeps its expression state across statements; a command in
 * between may have changed the counter's tables).
 */
typedef struct ReadPlan
{
	int32		counter_id;
	LocalTransactionId lxid;
	CommandId	cid;
	Oid			parent;
	bool		deferred;		/* has pending deltas to add */
	char	   *rows_sql;		/* step 1, as the caller */
	char	   *row_sql;		/* the same for one key */
	char	   *pending_sql;	/* step 2, as the owner of denorm_pending */
	char	   *pending1_sql;	/* the same for one key */
	Oid			pending_owner;
	Oid			pending_relid;
} ReadPlan;

/* Integer, text and uuid key types, each with the others of its kind */
static int
KeyKind(Oid typid)
{
	switch (typid)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
			return 1;
		case TEXTOID:
		case VARCHAROID:
			return 2;
		case UUIDOID:
			return 3;
		default:
			return 0;
	}
}

/*
 * Whether a deferred counter's pending keys can be matched with a parent
 * key by their text: pending keys are the foreign key's (or parent key's)
 * output, and integers of any width, uuids, and strings under a
 * deterministic collation print alike exactly when they are equal.  Then
 * denorm_pending's index on (counter_id, parent_key) finds them.  Other
 * keys (numeric: 1.0 and 1.00) are compared in the parent key's type.
 */
static bool
TextMatches(Oid keytype, Oid keycoll, Oid fktype, Oid fkcoll)
{
	if (KeyKind(keytype) == 0 || KeyKind(keytype) != KeyKind(fktype))
		return false;
	if (OidIsValid(keycoll) && !get_collation_isdeterministic(keycoll))
		return false;
	if (OidIsValid(fkcoll) && !get_collation_isdeterministic(fkcoll))
		return false;
	return true;
}

/* A collation's quoted, schema-qualified name */
static char *
CollationSql(Oid collid)
{
	HeapTuple	tup = SearchSysCache1(COLLOID, ObjectIdGetDatum(collid));
	Form_pg_collation form;
	char	   *result;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for collation %u", collid);
	form = (Form_pg_collation) GETSTRUCT(tup);
	result = quote_qualified_identifier(get_namespace_name(form->collnamespace),
										NameStr(form->collname));
	ReleaseSysCache(tup);
	return result;
}

/*
 * How a pending row matches the key key (a text expression): by its text,
 * or compared as the parent key's type, under the key's collation.
 */
static char *
PendingMatch(bool by_text, const char *keytype_sql, const char *collation_sql,
			 const char *key)
{
	if (by_text)
		return psprintf("q.parent_key OPERATOR(pg_catalog.=) %s", key);
	if (collation_sql != NULL)
		return psprintf("q.parent_key::%1$s OPERATOR(pg_catalog.=) %2$s::%1$s COLLATE %3$s",
						keytype_sql, key, collation_sql);
	return psprintf("q.parent_key::%1$s OPERATOR(pg_catalog.=) %2$s::%1$s", keytype_sql, key);
}

/*
 * GetReadPlan resolves counter id for reading, or reports the standard
 * error: no such counter, a parent that is no longer a table, a column
 * gone.  The statements it builds:
 *
 * step 1, as the caller, $1 the keys asked for as text:
 *   SELECT k.i, p.key::text, COALESCE(p.col, 0)::numeric
 *     FROM unnest($1::text[]) WITH ORDINALITY AS k(t, i)
 *     JOIN parent p ON p.key = k.t::keytype
 * step 2, as the owner of denorm_pending, $2 the keys step 1 found, each
 * looked up through the index on (counter_id, parent_key) when pending
 * keys match by their text:
 *   SELECT k.i, (SELECT sum(q.delta) FROM denorm_pending q
 *                 WHERE q.counter_id = $1 AND q.parent_key = k.t)
 *     FROM unnest($2::text[]) WITH ORDINALITY AS k(t, i)
 * and else in one join, comparing as the key's type:
 *   SELECT k.i, sum(q.delta) FROM unnest($2::text[]) WITH ORDINALITY AS k(t, i)
 *     LEFT JOIN denorm_pending q ON q.counter_id = $1
 *          AND q.parent_key::keytype = k.t::keytype COLLATE keycoll
 *    GROUP BY k.i
 * and a statement of each kind for one key, with $1 or $2 in place of k.t.
 */
static ReadPlan *
GetReadPlan(FunctionCallInfo fcinfo, int32 id)
{
	ReadPlan   *rp = (ReadPlan *) fcinfo->flinfo->fn_extra;
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	DenormRegistry r;
	AttrNumber	keyatt;
	AttrNumber	colatt;
	AttrNumber	fkatt;
	Oid			keytype;
	int32		keytypmod;
	Oid			keycoll;
	Oid			fktype;
	int32		fktypmod;
	Oid			fkcoll;
	char	   *keytype_sql;
	char	   *parent_sql;
	bool		by_text;
	char	   *collation_sql;
	MemoryContext old;

	if (rp != NULL && rp->counter_id == id && rp->lxid == MyProc->lxid &&
		rp->cid == GetCurrentCommandId(false))
		return rp;

	if (!DenormReadRegistry(nsp, id, &r))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("denorm counter %d does not exist", id),
				 errhint("The denorm_status view lists the counters there are.")));
	DenormCheckTable(r.parent, id, "parent");
	/*
	 * A minimum or maximum is no sum of deltas: its column is its value
	 * once the statement (or, in mode 'commit', the transaction) that
	 * changed it has applied it.
	 */
	if (strcmp(r.aggregate, "min") == 0 || strcmp(r.aggregate, "max") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("denorm counter %d keeps a %s, which denorm_value and denorm_values do not read", id,
						strcmp(r.aggregate, "min") == 0 ? "minimum" : "maximum"),
				 errhint("Read its column itself; in mode 'commit', after SELECT denorm_apply();.")));

	keyatt = get_attnum(r.parent, r.parent_key);
	colatt = get_attnum(r.parent, r.counter_column);
	if (keyatt == InvalidAttrNumber || colatt == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("%s column \"%s\" of denorm counter %d does not exist",
						keyatt == InvalidAttrNumber ? "parent key" : "counter",
						keyatt == InvalidAttrNumber ? r.parent_key : r.counter_column, id),
				 errhint("Drop the counter with denorm_drop_counter(%d).", id)));
	get_atttypetypmodcoll(r.parent, keyatt, &keytype, &keytypmod, &keycoll);

	fkatt = get_attnum(r.child, r.foreign_key);
	if (fkatt == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("foreign key column \"%s\" of denorm counter %d does not exist",
						r.foreign_key, id),
				 errhint("Drop the counter with denorm_drop_counter(%d).", id)));
	get_atttypetypmodcoll(r.child, fkatt, &fktype, &fktypmod, &fkcoll);

	/* pending keys are cast to the key's type as another role */
	if (!DenormBuiltinType(keytype) || !DenormBuiltinType(fktype))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("parent key and foreign key of denorm counter %d must be of built-in types", id),
				 errhint("Drop the counter with denorm_drop_counter(%d).", id)));

	if (rp == NULL)
	{
		rp = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(ReadPlan));
		fcinfo->flinfo->fn_extra = rp;
	}
	else
	{
		pfree(rp->rows_sql);
		pfree(rp->row_sql);
		pfree(rp->pending_sql);
		pfree(rp->pending1_sql);
	}
	rp->counter_id = 0;			/* not valid until complete */
	/*
	 * Keys are cast to the key's type without its typmod, so that a key asked
	 * for is compared as given, as in WHERE key = 'abcdef' on a varchar(5)
	 * key, not cut or rounded to fit first.
	 */
	keytype_sql = format_type_be_qualified(keytype);
	parent_sql = quote_qualified_identifier(get_namespace_name(get_rel_namespace(r.parent)),
											get_rel_name(r.parent));
	by_text = TextMatches(keytype, keycoll, fktype, fkcoll);
	collation_sql = OidIsValid(keycoll) ? CollationSql(keycoll) : NULL;

	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	rp->parent = r.parent;
	rp->deferred = strcmp(r.mode, "deferred") == 0;
	rp->rows_sql = psprintf("SELECT k.i, p.%1$s::pg_catalog.text, COALESCE(p.%2$s, 0)::pg_catalog.numeric"
							" FROM pg_catalog.unnest($1::pg_catalog.text[]) WITH ORDINALITY AS k(t, i)"
							" JOIN %3$s p ON p.%1$s OPERATOR(pg_catalog.=) k.t::%4$s",
							quote_identifier(r.parent_key), quote_identifier(r.counter_column),
							parent_sql, keytype_sql);
	rp->row_sql = psprintf("SELECT 1::pg_catalog.int8, p.%1$s::pg_catalog.text, COALESCE(p.%2$s, 0)::pg_catalog.numeric"
						   " FROM %3$s p WHERE p.%1$s OPERATOR(pg_catalog.=) $1::%4$s",
						   quote_identifier(r.parent_key), quote_identifier(r.counter_column),
						   parent_sql, keytype_sql);
	if (by_text)
		rp->pending_sql = psprintf("SELECT k.i, (SELECT pg_catalog.sum(q.delta) FROM %1$s.denorm_pending q"
								   " WHERE q.counter_id OPERATOR(pg_catalog.=) $1 AND %2$s)"
								   " FROM pg_catalog.unnest($2::pg_catalog.text[]) WITH ORDINALITY AS k(t, i)",
								   quote_identifier(get_namespace_name(nsp)),
								   PendingMatch(by_text, keytype_sql, collation_sql, "k.t"));
	else
		rp->pending_sql = psprintf("SELECT k.i, pg_catalog.sum(q.delta)"
								   " FROM pg_catalog.unnest($2::pg_catalog.text[]) WITH ORDINALITY AS k(t, i)"
								   " LEFT JOIN %1$s.denorm_pending q"
								   " ON q.counter_id OPERATOR(pg_catalog.=) $1 AND %2$s"
								   " GROUP BY k.i",
								   quote_identifier(get_namespace_name(nsp)),
								   PendingMatch(by_text, keytype_sql, collation_sql, "k.t"));
	rp->pending1_sql = psprintf("SELECT 1::pg_catalog.int8, pg_catalog.sum(q.delta)"
								" FROM %1$s.denorm_pending q"
								" WHERE q.counter_id OPERATOR(pg_catalog.=) $1 AND %2$s",
								quote_identifier(get_namespace_name(nsp)),
								PendingMatch(by_text, keytype_sql, collation_sql, "$2"));
	rp->pending_relid = get_relname_relid("denorm_pending", nsp);
	rp->pending_owner = DenormRelationOwner(rp->pending_relid);
	rp->lxid = MyProc->lxid;
	rp->cid = GetCurrentCommandId(false);
	rp->counter_id = id;
	MemoryContextSwitchTo(old);
	return rp;
}

/*
 * Step 2 as the owner of denorm_pending, for the keys keytexts[0..n-1]
 * step 1 found: adds each key's pending sum to values[].  An error here
 * (a pending key that does not convert to the parent key's type) is
 * reported without the key, which may belong to a row the caller may not
 * read.
 */
static void
AddPending(ReadPlan *rp, int n, Datum *keytexts, Datum *values, MemoryContext cxt)
{
	Oid			argtypes[2] = {INT4OID, n == 1 ? TEXTOID : TEXTARRAYOID};
	Datum		args[2];
	uint64		i;

	args[0] = Int32GetDatum(rp->counter_id);
	args[1] = n == 1 ? keytexts[0] :
		PointerGetDatum(construct_array(keytexts, n, TEXTOID, -1, false, TYPALIGN_INT));
	PG_TRY();
	{
		(void) DenormExecAs(rp->pending_owner, DENORM_PATH_SAFE, rp->pending_relid,
							n == 1 ? rp->pending1_sql : rp->pending_sql,
							2, argtypes, args, NULL, NULL, true);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) != ERRCODE_DATA_EXCEPTION)
			PG_RE_THROW();
		FlushErrorState();
		ereport(ERROR,
				(errcode(edata->sqlerrcode),
				 errmsg("could not read the pending deltas of denorm counter %d", rp->counter_id),
				 errdetail("A pending delta's key does not convert to the type of the parent key."),
				 errhint("denorm_reconcile(%d) shows the parent rows whose counter is wrong.",
						 rp->counter_id)));
	}
	PG_END_TRY();

	if (SPI_processed != (uint64) n)
		elog(ERROR, "denorm pending read returned " UINT64_FORMAT " rows for %d keys",
			 SPI_processed, n);
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int64		k = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		Datum		sum = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull);

		if (k < 1 || k > n)
			elog(ERROR, "denorm pending read returned key number " INT64_FORMAT, k);
		if (!isnull)
		{
			MemoryContext old = MemoryContextSwitchTo(cxt);

			values[k - 1] = DirectFunctionCall2(numeric_add, values[k - 1], sum);
			MemoryContextSwitchTo(old);
		}
	}
}

/*
 * Whether the statement plan last ran read table relid and no other table:
 * its one query names exactly one relation, and that is relid.  Step 1
 * names the parent by its schema and name, and PostgreSQL's plan cache
 * parses a kept statement again when something under it changes (an
 * ANALYZE of the parent is enough), resolving the name anew.  The owner of
 * the parent's schema (the database owner, for public) can meanwhile have
 * renamed that schema and put a table of its own under the old name; the
 * keys of that table must not lead to the counter's pending deltas.
 */
static bool
PlanReadOnly(SPIPlanPtr plan, Oid relid)
{
	List	   *sources = SPI_plan_get_plan_sources(plan);
	CachedPlanSource *source;
	Query	   *query;
	ListCell   *lc;
	int			nrels = 0;

	if (list_length(sources) != 1)
		return false;
	source = (CachedPlanSource *) linitial(sources);
	if (list_length(source->query_list) != 1)
		return false;
	query = linitial_node(Query, source->query_list);
	foreach(lc, query->rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

		/* (a view is a subquery by now) */
		if (rte->rtekind == RTE_SUBQUERY ||
			(rte->rtekind == RTE_RELATION && rte->relid != relid))
			return false;
		if (rte->rtekind == RTE_RELATION)
			nrels++;
	}
	return nrels == 1;
}

/*
 * Step 1, with the caller's rights: the parent rows of the keys in args[0]
 * it may see, into SPI_tuptable.  A refusal is shown as a SELECT by the
 * caller would show it, without denorm's statement.  The statement is
 * checked to have read the counter's parent (PlanReadOnly) before anything
 * it returned is used: it runs with the caller's own rights, so reading
 * another table by mistake tells the caller nothing, but its keys would
 * choose the pending deltas step 2 reads.
 */
static void
ReadParentRows(ReadPlan *rp, bool one, Datum *args, const char *nulls, MemoryContext cxt)
{
	Oid			argtypes[1] = {one ? TEXTOID : TEXTARRAYOID};
	SPIPlanPtr volatile plan = NULL;

	PG_TRY();
	{
		int			rc;

		plan = DenormPrepare(one ? rp->row_sql : rp->rows_sql, 1, argtypes);
		rc = SPI_execute_plan(plan, args, nulls, true, 0);

		if (rc != SPI_OK_SELECT)
			elog(ERROR, "denorm parent read failed: %s", SPI_result_code_string(rc));
	}
	PG_CATCH();
	{
		DenormRethrowRedacted(cxt, GetUserId(), rp->parent);
	}
	PG_END_TRY();

	if (!PlanReadOnly(plan, rp->parent))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("parent table of denorm counter %d was replaced while it was read",
						rp->counter_id),
				 errdetail("The name the counter's parent had when the statement started now leads to another relation."),
				 errhint("Run the statement again.")));
}

/*
 * ExactValues: the exact value of the counter for each of the n keys
 * (given as text; keynulls marks NULLs) into values/isnull, allocated in
 * the caller's memory context.  NULL where the caller sees no parent row
 * with that key.  Raises what a SELECT of the key and counter column by
 * the caller would raise.
 */
static void
ExactValues(ReadPlan *rp, int n, Datum *keys, bool *keynulls, Datum *values, bool *isnull)
{
	MemoryContext cxt = CurrentMemoryContext;
	Datum		args[1];
	int			dims[1] = {n};
	int			lbs[1] = {1};
	Datum	   *found_keys;
	Datum	   *found_values;
	int		   *found_at;
	int			nfound = 0;
	uint64		i;

	for (i = 0; i < n; i++)
		isnull[i] = true;

	/*
	 * One key takes a statement of its own: PostgreSQL keeps a generic plan
	 * for it, where the array's plan, whose row estimate depends on the
	 * array, would be planned anew for each call.  No key at all, or a NULL
	 * one, is still read: the caller's rights are checked as a SELECT
	 * finding no row would check them.
	 */
	if (n == 1)
		args[0] = keys[0];
	else if (n == 0)
		args[0] = PointerGetDatum(construct_empty_array(TEXTOID));
	else
		args[0] = PointerGetDatum(construct_md_array(keys, keynulls, 1, dims, lbs,
													 TEXTOID, -1, false, TYPALIGN_INT));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	ReadParentRows(rp, n == 1, args, n == 1 && keynulls[0] ? "n" : NULL, cxt);

	found_keys = MemoryContextAlloc(cxt, sizeof(Datum) * Max(SPI_processed, 1));
	found_values = MemoryContextAlloc(cxt, sizeof(Datum) * Max(SPI_processed, 1));
	found_at = MemoryContextAlloc(cxt, sizeof(int) * Max(SPI_processed, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		null1;
		bool		null2;
		bool		null3;
		int64		k = DatumGetInt64(SPI_getbinval(tup, desc, 1, &null1));
		Datum		keytext = SPI_getbinval(tup, desc, 2, &null2);
		Datum		value = SPI_getbinval(tup, desc, 3, &null3);
		MemoryContext old;

		if (null1 || null2 || null3 || k < 1 || k > n)
			elog(ERROR, "denorm parent read returned an unexpected row");
		old = MemoryContextSwitchTo(cxt);
		found_at[nfound] = (int) k - 1;
		found_keys[nfound] = datumCopy(keytext, false, -1);
		found_values[nfound] = datumCopy(value, false, -1);
		MemoryContextSwitchTo(old);
		nfound++;
	}

	/* step 2, only for the rows found */
	if (nfound > 0 && rp->deferred)
		AddPending(rp, nfound, found_keys, found_values, cxt);
	SPI_finish();

	/* and this transaction's own deltas not applied yet */
	for (i = 0; i < nfound; i++)
	{
		char	   *keytext = TextDatumGetCString(found_keys[i]);

		values[found_at[i]] = DirectFunctionCall2(numeric_add, found_values[i],
												  DenormLocalDelta(rp->counter_id, keytext));
		isnull[found_at[i]] = false;
		pfree(keytext);
	}
}

/* A key of any type as the text the parent key's type reads it from */
static Datum
KeyText(Oid typoutput, Datum key)
{
	return CStringGetTextDatum(OidOutputFunctionCall(typoutput, key));
}

static int32
CounterIdArg(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"counter_id\" must not be null")));
	return PG_GETARG_INT32(0);
}

PG_FUNCTION_INFO_V1(denorm_value);

/*
 * denorm_value(counter_id integer, parent_key anyelement) returns numeric
 *
 * The exact value of one parent row's counter (see the file header); NULL
 * when the caller sees no row with that key.  The key may be of any type
 * whose text the parent key's type reads.
 */
Datum
denorm_value(PG_FUNCTION_ARGS)
{
	int32		id = CounterIdArg(fcinfo);
	ReadPlan   *rp = GetReadPlan(fcinfo, id);
	Oid			argtype = get_fn_expr_argtype(fcinfo->flinfo, 1);
	Oid			typoutput;
	bool		typisvarlena;
	Datum		key;
	bool		keynull = false;
	Datum		value;
	bool		isnull;

	if (PG_ARGISNULL(1))
	{
		key = (Datum) 0;
		keynull = true;
	}
	else
	{
		if (!OidIsValid(argtype))
			elog(ERROR, "could not determine the type of the parent key");
		getTypeOutputInfo(argtype, &typoutput, &typisvarlena);
		key = KeyText(typoutput, PG_GETARG_DATUM(1));
	}
	ExactValues(rp, 1, &key, &keynull, &value, &isnull);
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(value);
}

PG_FUNCTION_INFO_V1(denorm_values);

/*
 * denorm_values(counter_id integer, parent_keys anyarray)
 *   returns table (parent_key anyelement, value numeric)
 *
 * denorm_value for many keys in one read: a row per element of
 * parent_keys, in their order, value NULL where the caller sees no row
 * with that key (as denorm_value would return for it).  No rows for an
 * empty or NULL array.
 */
Datum
denorm_values(PG_FUNCTION_ARGS)
{
	int32		id = CounterIdArg(fcinfo);
	ReadPlan   *rp = GetReadPlan(fcinfo, id);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ArrayType  *arr;
	Oid			elemtype;
	int16		elemlen;
	bool		elembyval;
	char		elemalign;
	Oid			typoutput;
	bool		typisvarlena;
	Datum	   *elems;
	bool	   *elemnulls;
	int			n;
	Datum	   *keys;
	Datum	   *values;
	bool	   *isnull;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(1))
	{
		/* read as an empty array would be: no rows, the rights checked */
		elems = NULL;
		elemnulls = NULL;
		n = 0;
	}
	else
	{
		arr = PG_GETARG_ARRAYTYPE_P(1);
		elemtype = ARR_ELEMTYPE(arr);
		get_typlenbyvalalign(elemtype, &elemlen, &elembyval, &elemalign);
		deconstruct_array(arr, elemtype, elemlen, elembyval, elemalign, &elems, &elemnulls, &n);
		getTypeOutputInfo(elemtype, &typoutput, &typisvarlena);
	}

	keys = palloc(sizeof(Datum) * Max(n, 1));
	values = palloc(sizeof(Datum) * Max(n, 1));
	isnull = palloc(sizeof(bool) * Max(n, 1));
	for (i = 0; i < n; i++)
		keys[i] = elemnulls[i] ? (Datum) 0 : KeyText(typoutput, elems[i]);
	ExactValues(rp, n, keys, elemnulls, values, isnull);

	for (i = 0; i < n; i++)
	{
		Datum		row[2];
		bool		rownulls[2];

		row[0] = elems[i];
		rownulls[0] = elemnulls[i];
		row[1] = values[i];
		rownulls[1] = isnull[i];
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, row, rownulls);
	}
	return (Datum) 0;
}
